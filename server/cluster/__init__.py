"""Many worker processes per machine, and the Redis session registry they share (ARCHITECTURE §7).

``identity``: who a worker is (``<hostname>-<ii>``, port ``8100 + ii``, prefix ``/w/<id>``) and
how many ``teller serve`` starts. ``supervisor``: starts them, restarts the ones that die,
forwards SIGTERM. ``worker``: one worker process (uvicorn, drain on SIGTERM). ``registry``: the
Redis keys. ``member``: one worker's heartbeat, dispatch and drain. Only ``identity`` is
imported here: the rest loads Redis and uvicorn, which a single process does without.
"""

from server.cluster.identity import (
    ClusterConfigError,
    WorkerIdentity,
    registry_enabled,
    worker_count,
    worker_identity,
)

__all__ = ["ClusterConfigError", "WorkerIdentity", "registry_enabled", "worker_count", "worker_identity"]
