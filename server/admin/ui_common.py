"""What the admin's Blocks (``ui``) and its other tabs (``ui_tabs``) share.

Both import this module and ``ui`` imports ``ui_tabs``, so the dependency goes one way.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr

from knowledge.index import IndexNotBuiltError
from knowledge.io import ImportFormatError
from server.admin.drafts import IllegalTransition
from server.admin.editing import EditError
from server.admin.publish import PublishBlocked, PublishConflict
from server.admin.service import Forbidden
from server.auth.users import StaffUser

F = TypeVar("F", bound=Callable[..., Any])
Who = Callable[[gr.Request], StaffUser]
"""The staff user behind a Gradio request (raises ``gr.Error`` when the login expired)."""
Guard = Callable[[Any], Any]
"""A decorator like :func:`shown`."""
_KNOWN = (
    Forbidden, EditError, IllegalTransition, ImportFormatError, IndexNotBuiltError, LookupError, ValueError,
    PublishConflict,
)  # fmt: skip


def shown(fn: F) -> F:
    """Known errors become a message in the page; anything else propagates (and is logged by Gradio)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PublishBlocked as exc:
            raise gr.Error(str(exc)) from exc
        except _KNOWN as exc:
            raise gr.Error(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


def temp_file(name: str, data: bytes) -> str:
    """Write ``data`` to a new temporary folder as ``name`` (for a download); return its path."""
    folder = Path(tempfile.mkdtemp(prefix="teller-admin-"))
    path = folder / name
    path.write_bytes(data)
    return str(path)
