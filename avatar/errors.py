"""Typed errors raised by the avatar package."""

from __future__ import annotations


class AvatarError(Exception):
    """Base class of every avatar failure.

    ``retryable`` tells the caller whether trying again (a new renderer, the next
    utterance) may succeed; when it is False the session should degrade to audio
    only and log the failure once.
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class AvatarConfigError(AvatarError):
    """Settings, a path or an asset are wrong; retrying will not help."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class AvatarAssetError(AvatarConfigError):
    """A photo could not be turned into an avatar, or a prepared asset is unreadable."""


class AvatarModelError(AvatarConfigError):
    """A neural lip-sync model is missing, malformed or incompatible."""


class IllegalTransitionError(AvatarError):
    """A state change that the renderer's state table does not allow."""

    def __init__(self, source: str, target: str) -> None:
        super().__init__(f"illegal avatar state transition {source} -> {target}", retryable=False)
        self.source = source
        self.target = target


class AudioFormatError(AvatarError):
    """Audio pushed with the wrong sample rate, width or shape."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)
