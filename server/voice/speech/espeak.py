"""eSpeak NG speech: a light engine (no model files) with the synthesiser's own phoneme timing.

libespeak-ng (Debian package ``espeak-ng``) is driven through ctypes in
synchronous mode. With ``espeakINITIALIZE_PHONEME_EVENTS`` and
``espeakINITIALIZE_PHONEME_IPA`` it reports, for every phoneme it speaks, an
event carrying the phoneme's IPA name and its sample position in the audio it
returns; each phoneme lasts until the next event, the last one until the end of
the audio. So the viseme timeline is exact, not spread over the audio. Audio
comes at eSpeak's own rate (22050 Hz) and is resampled when the output rate
differs.

The library keeps one global state per process (voice, rate, callback), so
every synthesis holds a process-wide lock; a sentence takes a few milliseconds.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import numpy as np

from avatar.timeline import VisemeTimeline
from server.voice.speech.cache import SpeechCache, SpeechPiece
from server.voice.speech.engine import CachedSpeech, pcm16

LIBRARY = "libespeak-ng.so.1"
APT_PACKAGE = "espeak-ng"
DEFAULT_RATE = 175  # words per minute, eSpeak's own default
MIN_RATE, MAX_RATE = 80, 450

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_PHONEME_IPA = 0x0002
_INITIALIZE_DONT_EXIT = 0x8000
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_RATE = 1  # espeakRATE
_CHARS_UTF8 = 1
_EE_OK = 0


class EspeakUnavailable(RuntimeError):
    """libespeak-ng is not installed, or does not start."""


class EspeakError(RuntimeError):
    """eSpeak NG refused a voice or a text."""


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """``espeak_EVENT`` (speak_lib.h)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass
class _Capture:
    pcm: bytearray
    phonemes: list[tuple[str, int]]  # (IPA, sample position)


class _Library:
    """The process's one libespeak-ng, initialised once; ``synthesize`` is serialised."""

    def __init__(self, name: str) -> None:
        try:
            lib = ctypes.CDLL(name)
        except OSError as exc:
            raise EspeakUnavailable(
                f"eSpeak NG is not installed ({exc}); install the Debian package {APT_PACKAGE} "
                f"(apt-get install --no-install-recommends {APT_PACKAGE}) or choose voice.tts_engine: piper"
            ) from exc
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_Callback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        lib.espeak_Info.restype = ctypes.c_char_p
        flags = _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_PHONEME_IPA | _INITIALIZE_DONT_EXIT
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, flags)
        if rate <= 0:
            raise EspeakUnavailable(f"libespeak-ng did not start (its data is missing?): code {rate}")
        self.sample_rate = int(rate)
        self.version = (lib.espeak_Info(None) or b"unknown").decode("ascii", errors="replace")
        self._lib = lib
        self._capture: _Capture | None = None
        self._callback = _Callback(self._on_synth)  # kept: the library holds only a raw pointer
        lib.espeak_SetSynthCallback(self._callback)
        self.lock = threading.Lock()

    def _on_synth(
        self, wav: ctypes._Pointer[ctypes.c_short], count: int, events: ctypes._Pointer[_Event]
    ) -> int:
        capture = self._capture
        if capture is None:
            return 1  # not ours: abort
        if wav and count > 0:
            capture.pcm.extend(ctypes.string_at(wav, count * 2))
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == _EVENT_PHONEME:
                name = bytes(event.id.string).split(b"\0", 1)[0].decode("utf-8", errors="ignore")
                capture.phonemes.append((name, int(event.sample)))
            i += 1
        return 0

    def synthesize(self, text: str, voice: str, rate: int) -> _Capture:
        with self.lock:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
                raise EspeakError(f"eSpeak NG has no voice {voice!r} (espeak-ng --voices lists them)")
            self._lib.espeak_SetParameter(_RATE, rate, 0)
            data = text.encode("utf-8") + b"\0"
            self._capture = capture = _Capture(bytearray(), [])
            try:
                code = self._lib.espeak_Synth(data, len(data), 0, 0, 0, _CHARS_UTF8, None, None)
            finally:
                self._capture = None
            if code != _EE_OK:
                raise EspeakError(f"eSpeak NG synthesis failed with code {code}")
            return capture


_libraries: dict[str, _Library] = {}
_libraries_lock = threading.Lock()


def _library(name: str = LIBRARY) -> _Library:
    with _libraries_lock:
        if name not in _libraries:
            _libraries[name] = _Library(name)
        return _libraries[name]


def phoneme_timeline(phonemes: list[tuple[str, int]], total: int, sample_rate: int) -> VisemeTimeline:
    """Visemes from ``(ipa, sample_position)`` events: each phoneme lasts until the next one."""
    items: list[tuple[str, float]] = []
    if phonemes and phonemes[0][1] > 0:
        items.append(("", phonemes[0][1] / sample_rate))  # leading silence
    for i, (name, start) in enumerate(phonemes):
        end = phonemes[i + 1][1] if i + 1 < len(phonemes) else max(total, start)
        items.append((name, max(0, end - start) / sample_rate))
    return VisemeTimeline.from_phoneme_durations(items)


class EspeakSpeech(CachedSpeech):
    """An eSpeak NG voice (``en-us``, ``en-gb``, ...) at ``rate`` words per minute."""

    def __init__(
        self,
        voice: str = "en-us",
        *,
        rate: int = DEFAULT_RATE,
        sample_rate: int | None = None,
        cache: SpeechCache | None = None,
        library: str = LIBRARY,
    ) -> None:
        if not MIN_RATE <= rate <= MAX_RATE:
            raise ValueError(f"eSpeak NG rate must be {MIN_RATE}..{MAX_RATE} words per minute, got {rate}")
        self._lib = _library(library)
        self.voice = voice
        self.rate = rate
        self._sample_rate = sample_rate or self._lib.sample_rate
        self._lib.synthesize("", voice, rate)  # an unknown voice fails here, at load time
        super().__init__(
            identity=f"espeak-ng:{self._lib.version}:{voice}:{rate}:{self._sample_rate}", cache=cache
        )

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    def _rate(self, length_scale: float | None) -> int:
        scaled = self.rate / length_scale if length_scale else self.rate
        return max(MIN_RATE, min(MAX_RATE, round(scaled)))

    def synthesize_piece(self, text: str, length_scale: float | None) -> SpeechPiece:
        """Synthesise one piece (blocking; call it from a worker thread)."""
        capture = self._lib.synthesize(text, self.voice, self._rate(length_scale))
        native = self._lib.sample_rate
        total = len(capture.pcm) // 2
        timeline = phoneme_timeline(capture.phonemes, total, native)
        pcm = pcm16(np.frombuffer(bytes(capture.pcm), dtype=np.int16), native, self._sample_rate)
        return SpeechPiece(pcm=pcm, visemes=timeline if len(timeline) else None)

    def timeline(self, text: str) -> VisemeTimeline:
        """The viseme timeline eSpeak NG speaks ``text`` with (the audio is dropped).

        Gives speech from engines without alignments (Coqui) a mouth.
        """
        capture = self._lib.synthesize(text, self.voice, self.rate)
        return phoneme_timeline(capture.phonemes, len(capture.pcm) // 2, self._lib.sample_rate)
