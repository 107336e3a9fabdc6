"""Warm the speech cache with every fixed text the teller can say for a knowledge base.

Approved answers are spoken verbatim, so their audio can be made before any
customer asks. Run after a knowledge build (the cache key includes the text, so
changed answers are simply new entries):

    python -m server.voice.speech.warm [knowledge_dir] [--prune]

``--prune`` first deletes every cached clip that is not one of these texts (at the normal or
the slow speed) for this voice: a cache filled before only approved text was cached may hold
operator or generated lines.

A running server warms each version published later itself (``PublishWarmer``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from knowledge.loader import load_knowledge_base
from knowledge.schema import KnowledgeBase
from server.brain.brain import Brain
from server.brain.replies import HANDOFF_LINES, scope_line
from server.config import load_settings
from server.voice.conversation import REPEAT_PLEASE
from server.voice.speech.engine import SpeechEngine
from server.voice.speech.factory import load_speech
from server.voice.tts import SLOW_LENGTH_SCALE

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
    speech: SpeechEngine, texts: Iterable[str], *, length_scales: Iterable[float | None] = (None,)
) -> int:
    """Synthesise what is not cached yet (blocking); return how many texts were synthesised."""
    made = 0
    todo = list(texts)
    for scale in length_scales:
        for text in todo:
            made += speech.prepare(text, scale)
    return made


def prune(speech: SpeechEngine, cache_dir: Path, texts: Iterable[str]) -> int:
    """Delete the clips in ``cache_dir`` that are not ``texts`` in this voice; return how many."""
    keep = {speech.key(text, scale) for text in texts for scale in (None, SLOW_LENGTH_SCALE)}
    removed = 0
    for path in cache_dir.glob("*.npz"):
        if path.stem not in keep:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


WATCH_INTERVAL_S = 2.0


class PublishWarmer:
    """Speaks each knowledge version the Brain starts serving into the speech cache.

    One task owned by the app's lifespan. Every ``interval_s`` it reads the
    version the Brain serves (a publish in this process, or one the
    ``VersionFollower`` followed); the version at start was warmed by the
    command above, so only later ones are. Warming needs the process's speech
    engine, which ``speech()`` gives once a session has loaded it (it is never
    loaded just to warm); until then a new version waits. Texts go to a worker
    thread one at a time, so cancelling stops after the current text, and
    ``prepare`` skips texts already cached: only changed answers are synthesised.
    """

    def __init__(
        self,
        brain: Brain,
        speech: Callable[[], SpeechEngine | None],
        *,
        interval_s: float = WATCH_INTERVAL_S,
    ) -> None:
        self._brain = brain
        self._speech = speech
        self._interval_s = interval_s
        self.warmed_version: int | None = brain.retriever.version

    async def check(self) -> int:
        """Warm the served version if it is new and speech is loaded; return texts synthesised."""
        retriever = self._brain.retriever
        speech = self._speech()
        if retriever.version == self.warmed_version or speech is None:
            return 0
        self.warmed_version = retriever.version  # a version whose warming fails is not retried
        texts = fixed_texts(retriever.kb)
        started = time.monotonic()
        made = 0
        for text in texts:
            made += await asyncio.to_thread(speech.prepare, text)
        log.info(
            "speech cache warmed for a new knowledge version",
            extra={
                "version": retriever.version,
                "synthesised": made,
                "texts": len(texts),
                "seconds": round(time.monotonic() - started, 1),
            },
        )
        return made

    async def run(self) -> None:
        """Check forever (until cancelled); a failed warm is logged, the live sessions go on."""
        while True:
            try:
                await self.check()
            except Exception:  # synthesis errors come from onnxruntime, libespeak-ng or torch
                log.exception("could not warm the speech cache for the new knowledge version")
            await asyncio.sleep(self._interval_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("knowledge_dir", nargs="?", type=Path, help="YAML knowledge (default: config)")
    parser.add_argument("--prune", action="store_true", help="delete cached clips of any other text first")
    args = parser.parse_args(argv)
    settings = load_settings()
    cache_dir = settings.voice.speech_cache_dir
    if cache_dir is None:
        parser.error("voice.speech_cache_dir is not set: there is no disk cache to warm")
    kb = load_knowledge_base(args.knowledge_dir or settings.knowledge.source_dir)
    texts = fixed_texts(kb)
    started = time.monotonic()
    speech = load_speech(settings.voice, sample_rate=settings.avatar.sample_rate)
    if args.prune:
        print(f"{prune(speech, cache_dir, texts)} cached clips of other texts deleted")
    made = warm(speech, texts)
    print(f"{made} of {len(texts)} texts synthesised in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
