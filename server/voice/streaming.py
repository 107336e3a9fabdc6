"""A generatively worded ANSWER, spoken sentence by sentence as each one passes the guard.

The Brain decides with ``defer_wording`` (retrieval and policy only, no LLM call); the
reply then carries the writer's request. ``StreamedAnswer.speak`` streams the answer from
the writer and hands every guarded sentence to ``say`` (subtitles and one TTS frame each)
as soon as it is complete, so the avatar speaks before the answer is finished. ``said``
is the reply as spoken so far: the conversation records it once the stream ends, or when
a barge-in cancels the turn. Cancellation closes the writer's stream and, with it, the
HTTP request to the LLM server.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import replace

from server.brain.brain import Brain, BrainReply


class StreamedAnswer:
    """One deferred ANSWER of ``brain`` (``reply.answer`` set), spoken through a writer's stream."""

    def __init__(self, brain: Brain, reply: BrainReply) -> None:
        if reply.answer is None or brain.writer is None:
            raise ValueError("only a deferred ANSWER of a Brain with a writer can be streamed")
        self._brain = brain
        self._writer = brain.writer
        self._reply = reply
        self._request = reply.answer
        self.spoken: list[str] = []

    @property
    def said(self) -> BrainReply:
        """The reply as handed to ``say`` so far (its text is the sentences, in order)."""
        return replace(self._reply, text=" ".join(self.spoken), answer=None)

    async def speak(self, say: Callable[[str], Awaitable[None]]) -> BrainReply:
        """Hand each guarded sentence to ``say`` as soon as it is ready; return the reply as said."""
        try:
            async with contextlib.aclosing(self._writer.stream_answer(self._request)) as sentences:
                async for sentence in sentences:
                    self.spoken.append(sentence.text)
                    await say(sentence.text)
        finally:
            if self.spoken:  # the session's memory holds what was said, not the approved answer
                self._brain.reworded(self._reply.session_id, " ".join(self.spoken))
        return self.said
