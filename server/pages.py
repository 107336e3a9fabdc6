"""The customer page and the kiosk page (plain HTML/JS under server/static)."""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

STATIC_DIR = Path(__file__).with_name("static")
MAX_PRESENCE_JPEG_BYTES = 100_000
router = APIRouter()

_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "microphone=(self), camera=(self)",
}


def page(name: str) -> FileResponse:
    """A static HTML page with the security headers."""
    return FileResponse(STATIC_DIR / name, media_type="text/html", headers=_SECURITY_HEADERS)


@router.get("/", include_in_schema=False)
def customer_page() -> FileResponse:
    return page("index.html")


@router.get("/kiosk", include_in_schema=False)
def kiosk_page() -> FileResponse:
    return page("kiosk.html")


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> FileResponse:
    """Browsers ask for it on pages without an icon link (the login page, Gradio)."""
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")


@cache
def _face_detector() -> tuple[Any, threading.Lock]:
    """OpenCV's frontal-face Haar cascade (shipped with opencv), loaded once; not thread-safe."""
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")  # type: ignore[attr-defined]
    if cascade.empty():
        raise RuntimeError("OpenCV's frontal-face Haar cascade is missing")
    return cascade, threading.Lock()


def detect_face(jpeg: bytes) -> bool:
    """Whether a small camera frame (JPEG) shows a face big enough to be someone at the kiosk."""
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError("not a JPEG image")
    if max(image.shape) > 640:
        scale = 640 / max(image.shape)
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    image = cv2.equalizeHist(image)
    side = max(40, min(image.shape) // 8)
    cascade, lock = _face_detector()
    with lock:
        faces = cascade.detectMultiScale(image, scaleFactor=1.15, minNeighbors=5, minSize=(side, side))
    return len(faces) > 0


@router.post("/api/v1/kiosk/presence", include_in_schema=False)
async def kiosk_presence(request: Request) -> dict[str, bool]:
    """The kiosk's camera frame (raw JPEG body, at most 100 kB) → ``{"face": bool}``."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_PRESENCE_JPEG_BYTES:
            raise HTTPException(status_code=413, detail=f"image over {MAX_PRESENCE_JPEG_BYTES} bytes")
    try:
        face = await run_in_threadpool(detect_face, bytes(body))
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return {"face": face}
