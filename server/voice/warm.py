"""Warm the speech cache with every fixed text the teller can say for a knowledge base.

Approved answers are spoken verbatim, so their audio can be made before any
customer asks. Run after a knowledge build or publish (the cache key includes
the text, so changed answers are simply new entries):

    python -m server.voice.warm [knowledge_dir]
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterable
from pathlib import Path

from knowledge.loader import load_knowledge_base
from knowledge.schema import KnowledgeBase
from server.brain.replies import HANDOFF_LINES, scope_line
from server.config import load_settings
from server.voice.conversation import REPEAT_PLEASE
from server.voice.services import load_speech
from server.voice.tts import PiperSpeech

log = logging.getLogger(__name__)


def fixed_texts(kb: KnowledgeBase) -> list[str]:
    """Approved answers plus the fixed lines (greeting, hand-off, out of scope, say-again)."""
    texts = [ref.problem.answer for ref in kb.problem_refs()]
    texts += [
        f"Hello, I'm {kb.name}'s digital teller. {scope_line(kb)} What can I do for you?",
        f"I'm sorry, that's not something I can help with here. {scope_line(kb)}",
        REPEAT_PLEASE,
        *HANDOFF_LINES.values(),
    ]
    return list(dict.fromkeys(texts))


def warm(
    speech: PiperSpeech, texts: Iterable[str], *, length_scales: Iterable[float | None] = (None,)
) -> int:
    """Synthesise what is not cached yet (blocking); return how many texts were synthesised."""
    made = 0
    todo = list(texts)
    for scale in length_scales:
        for text in todo:
            made += speech.prepare(text, scale)
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("knowledge_dir", nargs="?", type=Path, help="YAML knowledge (default: config)")
    args = parser.parse_args(argv)
    settings = load_settings()
    if settings.voice.speech_cache_dir is None:
        parser.error("voice.speech_cache_dir is not set: there is no disk cache to warm")
    kb = load_knowledge_base(args.knowledge_dir or settings.knowledge.source_dir)
    texts = fixed_texts(kb)
    started = time.monotonic()
    made = warm(load_speech(settings.voice), texts)
    print(f"{made} of {len(texts)} texts synthesised in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
