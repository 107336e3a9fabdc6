"""Speech engines (Piper, eSpeak NG, Coqui), their shared cache, and warming it."""

from server.voice.speech.cache import SpeechCache, SpeechClip, SpeechPiece
from server.voice.speech.engine import SpeechEngine
from server.voice.speech.factory import load_speech

__all__ = ["SpeechCache", "SpeechClip", "SpeechEngine", "SpeechPiece", "load_speech"]
