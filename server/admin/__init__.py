"""The content team's admin: drafts, review, publish with a regression gate, playground, inbox.

``mount_admin(app, runtime)`` serves it at ``/admin``; ``AdminService`` is the
same behaviour without a UI.
"""

from server.admin.mount import mount_admin

__all__ = ["mount_admin"]
