"""create_renderer: build the configured avatar renderer."""

from __future__ import annotations

from avatar.base import AvatarRenderer
from avatar.clock import FrameClock
from avatar.errors import AvatarConfigError
from avatar.settings import AvatarSettings


def available_kinds(settings: AvatarSettings) -> list[str]:
    """Renderer kinds this configuration can offer (neural only with a model path)."""
    kinds = ["character"]
    if settings.asset_path is not None:
        kinds.append("photo")
        if settings.neural_model_path is not None:
            kinds.append("neural")
    return kinds


def create_renderer(settings: AvatarSettings, *, clock: FrameClock | None = None) -> AvatarRenderer:
    """Build the renderer ``settings.kind`` describes; raises ``AvatarConfigError`` when it cannot."""
    common = {
        "size": settings.size,
        "fps": settings.fps,
        "sample_rate": settings.sample_rate,
        "seed": settings.seed,
        "clock": clock,
        "render_in_thread": settings.render_in_thread,
        "max_lag_frames": settings.max_lag_frames,
        "idle_frame_stride": settings.idle_frame_stride,
    }
    if settings.kind == "character":
        from avatar.character.renderer import CharacterRenderer

        return CharacterRenderer(**common)  # type: ignore[arg-type]
    if settings.asset_path is None:
        raise AvatarConfigError(f"avatar.kind={settings.kind} needs avatar.asset_path")
    if settings.kind == "photo":
        from avatar.photo.renderer import PhotoRenderer

        return PhotoRenderer(settings.asset_path, **common)  # type: ignore[arg-type]
    from avatar.neural.renderer import NeuralRenderer

    if settings.neural_model_path is None:
        raise AvatarConfigError("avatar.kind=neural needs avatar.neural_model_path")
    return NeuralRenderer(
        settings.asset_path,
        settings.neural_model_path,
        device=settings.neural_device,
        **common,  # type: ignore[arg-type]
    )


def warm_renderer(settings: AvatarSettings) -> None:
    """Build the process-wide layers of the configured renderer once (about 2 s for the
    drawn character), so that no session's first renderer builds them on the event loop."""
    if settings.kind == "character":
        from avatar.character.renderer import character_assets, warm_head_patches

        character_assets(settings.size)
        warm_head_patches(settings.size)
