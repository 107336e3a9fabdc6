"""The customer's microphone reaches the server's VAD and ASR without a playout delay.

aiortc gives every received audio track a jitter buffer that holds four frames
(about 80 ms) before releasing one: right for a loudspeaker, which must play
smoothly, but the server never plays the customer's audio. VAD and Whisper need
the frames in order, not evenly spaced, so the server's audio receivers release
each frame as soon as it and its predecessors are there (about one packet,
20 ms). Out-of-order packets are still reordered; a lost one still stalls the
stream until aiortc's buffer of 16 packets overflows, as before. Every barge-in
and every turn end is heard that much sooner.

aiortc (pinned with pipecat) keeps the buffer in a private attribute of
``RTCRtpReceiver``; this module is the one place that knows it.
"""

from __future__ import annotations

import logging

from aiortc import RTCPeerConnection
from aiortc.jitterbuffer import JitterBuffer

log = logging.getLogger(__name__)

AUDIO_CAPACITY = 16  # aiortc's own capacity for audio (packets; a power of two)
_ATTRIBUTE = "_RTCRtpReceiver__jitter_buffer"


def release_audio_promptly(pc: RTCPeerConnection) -> int:
    """Give ``pc``'s audio receivers a jitter buffer without prefetch; return how many changed.

    Call it after the offer was applied and before media flows (the answer is not sent yet).
    """
    changed = 0
    for receiver in pc.getReceivers():
        if receiver.track is None or receiver.track.kind != "audio":
            continue
        if not hasattr(receiver, _ATTRIBUTE):
            log.warning("aiortc changed: audio input keeps its playout delay")
            return changed
        setattr(receiver, _ATTRIBUTE, JitterBuffer(capacity=AUDIO_CAPACITY, prefetch=0))
        changed += 1
    return changed
