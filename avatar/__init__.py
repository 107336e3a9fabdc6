"""Avatar: lip-synced renderers behind one contract (see ``AvatarRenderer``).

``create_renderer(AvatarSettings(...))`` builds the configured renderer; push
speech with ``push_audio(pcm, VisemeTimeline.from_piper(...))`` and iterate
``frames()`` for paced RGB frames that carry their slice of audio.
"""

from avatar.audio_buffer import PlaybackPosition
from avatar.base import AvatarFrame, AvatarRenderer
from avatar.clock import FrameClock, OfflineClock
from avatar.errors import (
    AudioFormatError,
    AvatarAssetError,
    AvatarConfigError,
    AvatarError,
    AvatarModelError,
    IllegalTransitionError,
)
from avatar.factory import available_kinds, create_renderer
from avatar.photo.asset import build_photo_asset
from avatar.settings import AvatarSettings
from avatar.states import AvatarState, Expression
from avatar.timeline import VisemeTimeline
from avatar.visemes import MouthShape, Viseme, phoneme_to_viseme

__all__ = [
    "AudioFormatError",
    "AvatarAssetError",
    "AvatarConfigError",
    "AvatarError",
    "AvatarFrame",
    "AvatarModelError",
    "AvatarRenderer",
    "AvatarSettings",
    "AvatarState",
    "Expression",
    "FrameClock",
    "IllegalTransitionError",
    "MouthShape",
    "OfflineClock",
    "PlaybackPosition",
    "Viseme",
    "VisemeTimeline",
    "available_kinds",
    "build_photo_asset",
    "create_renderer",
    "phoneme_to_viseme",
]
