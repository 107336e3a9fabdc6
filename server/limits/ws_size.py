"""The largest websocket message any endpoint of the app accepts: uvicorn's ``ws_max_size``, so a
bigger one is refused (close 1009) before the app reads it.

The operator's recorded line (``server.operator.speech``) is the largest; a customer's websocket
takes at most a second of audio or a 4 KiB JSON message (``server.voice.transport.websocket``).
"""

from __future__ import annotations

from server.operator.commands import MAX_COMMAND_BYTES
from server.operator.speech import MAX_AUDIO_S, MAX_HEADER_BYTES, SAMPLE_RATE
from server.voice.events import MAX_CLIENT_MESSAGE_BYTES

CUSTOMER_AUDIO_MESSAGE_BYTES = 16_000 * 2  # one second of PCM16 mono at 16 kHz
OPERATOR_AUDIO_MESSAGE_BYTES = 2 + MAX_HEADER_BYTES + MAX_AUDIO_S * SAMPLE_RATE * 2

WS_MAX_SIZE = max(
    CUSTOMER_AUDIO_MESSAGE_BYTES, MAX_CLIENT_MESSAGE_BYTES, MAX_COMMAND_BYTES, OPERATOR_AUDIO_MESSAGE_BYTES
)
