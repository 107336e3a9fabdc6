"""How a route reaches the app's running parts: ``app_services(request)``.

Kept apart from ``server.wiring`` (which imports every part) so any route module can
import it without an import cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from server.wiring import AppServices


def app_services(conn: HTTPConnection) -> AppServices:
    """The services of the app serving ``conn``, set by its lifespan."""
    services: AppServices = conn.app.state.services
    return services
