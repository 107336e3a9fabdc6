"""Who a worker is: ``<hostname>-<ii>``, its port and the URL prefix the edge routes to it.

docker/nginx/teller.conf fixes the contract: worker ``ii`` (two digits) of a machine listens on
``server.worker_base_port + ii`` (8100 + ii) and the edge sends ``/w/<hostname>-<ii>/<rest>`` to it
as ``/<rest>`` with ``X-Forwarded-Prefix: /w/<hostname>-<ii>``.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass

from server.config import Settings

MAX_WORKERS = 100  # two-digit worker numbers: 00 .. 99
_HOSTNAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")


class ClusterConfigError(ValueError):
    """The settings ask for a cluster that cannot work (fix the configuration)."""

    retryable = False


@dataclass(frozen=True)
class WorkerIdentity:
    hostname: str
    index: int
    port: int

    @property
    def worker_id(self) -> str:
        return f"{self.hostname}-{self.index:02d}"

    @property
    def prefix(self) -> str:
        """Where the edge routes this worker: the signalling base handed to its customers."""
        return f"/w/{self.worker_id}"


@dataclass(frozen=True)
class Placement:
    """Where a new session goes: its worker and the signalling base its customer uses."""

    worker: str | None  # None: this single process
    prefix: str  # "" (this origin) or /w/<worker>


SINGLE_PROCESS = Placement(None, "")


def registry_enabled(settings: Settings) -> bool:
    """Whether workers share the Redis registry (``cluster.registry``; ``auto`` follows ``operator.bus``)."""
    registry = settings.cluster.registry
    return registry == "redis" or (registry == "auto" and settings.operator.bus == "redis")


def host_label(settings: Settings) -> str:
    """The machine part of worker ids: ``cluster.hostname``, else the host name up to its first dot."""
    name = (settings.cluster.hostname or socket.gethostname()).split(".", 1)[0].lower()
    if not _HOSTNAME.match(name):
        raise ClusterConfigError(
            f"worker ids need a host name of a-z, 0-9 and '-' (got {name!r}); set cluster.hostname"
        )
    return name


def worker_identity(settings: Settings, index: int) -> WorkerIdentity:
    if not 0 <= index < MAX_WORKERS:
        raise ClusterConfigError(f"worker number {index} is outside 0..{MAX_WORKERS - 1}")
    return WorkerIdentity(host_label(settings), index, settings.server.worker_base_port + index)


def worker_count(settings: Settings, requested: int | None) -> int:
    """How many workers ``teller serve`` starts: ``--workers``, else ``server.workers`` (0: one per core).

    Without the registry the answer is 1 (today's single process): workers could not share
    consoles and sessions. Asking for more explicitly is a configuration error.
    """
    wanted = requested if requested is not None else settings.server.workers
    if wanted < 0:
        raise ClusterConfigError("--workers must be 0 (one per core) or more")
    if not registry_enabled(settings):
        if wanted > 1:
            raise ClusterConfigError(
                f"{wanted} workers need the Redis registry: set operator.bus: redis "
                "(or cluster.registry: redis) and redis.url"
            )
        return 1
    count = wanted or os.cpu_count() or 1
    if count > MAX_WORKERS:
        raise ClusterConfigError(f"at most {MAX_WORKERS} workers per machine (two-digit worker ids)")
    return count
