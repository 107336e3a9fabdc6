"""A real ``redis-server`` (Debian package) for tests: a free loopback port, no persistence, a temp dir."""

from server.devcluster.process import free_port
from server.devcluster.redis import RedisServer

__all__ = ["RedisServer", "free_port"]
