"""The relay test's two namespaces (server/devcluster/netns.py, shared with bench/scale_out.py),
skipped where this process can't create them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from server.devcluster import netns
from server.devcluster.netns import Link, Topology, netns_unavailable

__all__ = ["Link", "Topology", "customer_and_worker", "netns_unavailable", "require_netns"]


def require_netns() -> None:
    """Skip unless this process may create network namespaces."""
    reason = netns_unavailable()
    if reason is not None:
        pytest.skip(reason)


@contextmanager
def customer_and_worker() -> Iterator[Topology]:
    """The two namespaces; deleted (with their veths) when the block ends, however it ends."""
    require_netns()
    with netns.customer_and_worker() as net:
        yield net
