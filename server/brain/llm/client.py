"""A client for any OpenAI-compatible chat-completions server (vLLM, llama.cpp, ...), streaming.

Both a sync and an async flavour yield the content deltas of one streamed completion and
raise only ``LlmError`` subclasses: unreachable server or HTTP error -> ``LlmUnavailable``,
no first token within ``first_token_budget_ms`` or the whole answer over ``timeout_s`` ->
``LlmTimeout``, anything that is not a valid event stream -> ``LlmMalformed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from server.brain.llm.errors import LlmError, LlmMalformed, LlmTimeout, LlmUnavailable

_DONE = object()


@dataclass(frozen=True)
class LlmConfig:
    base_url: str
    model: str
    api_key: str | None = None
    connect_timeout_s: float = 2.0
    timeout_s: float = 20.0
    first_token_budget_ms: int = 1500
    max_tokens: int = 160
    temperature: float = 0.2


def _delta(line: str) -> str | object | None:
    """The content delta of one SSE line, ``_DONE`` at the end, None for anything without text."""
    line = line.strip()
    if not line or line.startswith(":"):
        return None
    if not line.startswith("data:"):
        if line.startswith(("event:", "id:", "retry:")):
            return None
        raise LlmMalformed("stream line is not a server-sent event")
    data = line[5:].strip()
    if data == "[DONE]":
        return _DONE
    try:
        event = json.loads(data)
        choices = event["choices"]
    except (ValueError, KeyError, TypeError) as exc:
        raise LlmMalformed("stream event is not a chat-completion chunk") from exc
    if not isinstance(choices, list):
        raise LlmMalformed("stream event has no choices list")
    if not choices:
        return None
    delta = choices[0].get("delta") if isinstance(choices[0], dict) else None
    content = delta.get("content") if isinstance(delta, dict) else None
    if content is not None and not isinstance(content, str):
        raise LlmMalformed("delta content is not text")
    return content or None


class ChatClient:
    """Streams chat completions from ``base_url`` (``.../v1``)."""

    def __init__(self, config: LlmConfig) -> None:
        self.config = config
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        budget = config.first_token_budget_ms / 1000
        timeout = httpx.Timeout(connect=config.connect_timeout_s, read=budget, write=budget, pool=budget)
        self._url = config.base_url.rstrip("/") + "/chat/completions"
        self._sync = httpx.Client(timeout=timeout, headers=headers, trust_env=False)
        self._async = httpx.AsyncClient(timeout=timeout, headers=headers, trust_env=False)

    def _payload(
        self, messages: list[dict[str, str]], max_tokens: int | None, temperature: float | None
    ) -> Any:
        return {
            "model": self.config.model,
            "messages": messages,
            "stream": True,
            "max_tokens": max_tokens or self.config.max_tokens,
            "temperature": self.config.temperature if temperature is None else temperature,
        }

    def stream(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Iterator[str]:
        """Content deltas, blocking; for the text API and the CLI."""
        started = time.monotonic()
        budget = self.config.first_token_budget_ms / 1000
        first = True
        try:
            with self._sync.stream(
                "POST", self._url, json=self._payload(messages, max_tokens, temperature)
            ) as r:
                if r.status_code != 200:
                    raise LlmUnavailable(f"HTTP {r.status_code} from the LLM server")
                for line in r.iter_lines():
                    elapsed = time.monotonic() - started
                    delta = _delta(line)
                    if delta is _DONE:
                        return
                    if first and elapsed > budget:
                        raise LlmTimeout(f"no first token within {self.config.first_token_budget_ms} ms")
                    if elapsed > self.config.timeout_s:
                        raise LlmTimeout(f"answer not complete within {self.config.timeout_s} s")
                    if isinstance(delta, str):
                        first = False
                        yield delta
        except httpx.TimeoutException as exc:
            raise LlmTimeout("the LLM server did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise LlmUnavailable(f"LLM server unreachable: {type(exc).__name__}") from exc
        if first:
            raise LlmMalformed("stream ended without [DONE] and without text")

    async def astream(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> AsyncGenerator[str, None]:
        """Content deltas, for the voice pipeline; closing the generator closes the request."""
        loop = asyncio.get_running_loop()
        first_deadline = loop.time() + self.config.first_token_budget_ms / 1000
        total_deadline = loop.time() + self.config.timeout_s
        first = True
        payload = self._payload(messages, max_tokens, temperature)
        try:
            async with contextlib.AsyncExitStack() as stack:
                async with asyncio.timeout_at(first_deadline):
                    r = await stack.enter_async_context(self._async.stream("POST", self._url, json=payload))
                if r.status_code != 200:
                    raise LlmUnavailable(f"HTTP {r.status_code} from the LLM server")
                lines = r.aiter_lines()
                while True:
                    async with asyncio.timeout_at(first_deadline if first else total_deadline):
                        line = await anext(lines, None)
                    if line is None:
                        break
                    delta = _delta(line)
                    if delta is _DONE:
                        return
                    if isinstance(delta, str):
                        first = False
                        yield delta
        except TimeoutError as exc:
            what = "first token" if first else "complete answer"
            raise LlmTimeout(f"no {what} within the budget") from exc
        except httpx.TimeoutException as exc:
            raise LlmTimeout("the LLM server did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise LlmUnavailable(f"LLM server unreachable: {type(exc).__name__}") from exc
        if first:
            raise LlmMalformed("stream ended without [DONE] and without text")

    def complete(self, messages: list[dict[str, str]], *, max_tokens: int | None = None) -> str:
        """The whole completion as one string (streamed underneath)."""
        return "".join(self.stream(messages, max_tokens=max_tokens))

    def close(self) -> None:
        self._sync.close()

    async def aclose(self) -> None:
        await self._async.aclose()
        self._sync.close()


__all__ = ["ChatClient", "LlmConfig", "LlmError"]
