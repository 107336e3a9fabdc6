"""Staff users, roles and login, shared by the admin and the operator console.

Use ``require_role(Role.SUPERVISOR, ...)`` as a FastAPI dependency on a staff
endpoint; ``router`` serves ``/login`` and ``/logout``.
"""

from server.auth.deps import CSRF_HEADER, current_session, read_session, require_role
from server.auth.routes import router
from server.auth.service import StaffAuth, staff_auth
from server.auth.sessions import StaffSession, StaffSessions
from server.auth.tokens import SESSION_COOKIE
from server.auth.users import Role, StaffUser, UserDirectory, UserError

__all__ = [
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "Role",
    "StaffAuth",
    "StaffSession",
    "StaffSessions",
    "StaffUser",
    "UserDirectory",
    "UserError",
    "current_session",
    "read_session",
    "require_role",
    "router",
    "staff_auth",
]
