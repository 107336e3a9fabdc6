"""Who a worker is, and how many ``teller serve`` starts (no Redis needed)."""

from __future__ import annotations

import os

import pytest

from server.cli import build_parser
from server.cluster import ClusterConfigError, registry_enabled, worker_count, worker_identity
from server.cluster.worker import listen_ports
from server.config import Settings

pytestmark = pytest.mark.cluster


def settings(**sections: dict[str, object]) -> Settings:
    return Settings.model_validate(sections)


def test_one_process_stays_one_process_without_the_registry() -> None:
    alone = settings(operator={"bus": "in_process"}, cluster={"registry": "auto"})
    assert not registry_enabled(alone)
    assert worker_count(alone, None) == 1 and worker_count(alone, 1) == 1
    with pytest.raises(ClusterConfigError, match="Redis registry"):
        worker_count(alone, 2)


def test_with_the_registry_the_default_is_one_worker_per_core() -> None:
    shared = settings(operator={"bus": "redis"})
    assert registry_enabled(shared)
    assert worker_count(shared, None) == (os.cpu_count() or 1)
    assert worker_count(shared, 3) == 3
    assert registry_enabled(settings(cluster={"registry": "redis"}))
    assert not registry_enabled(settings(operator={"bus": "redis"}, cluster={"registry": "none"}))
    with pytest.raises(ClusterConfigError, match="at most 100"):
        worker_count(shared, 101)


def test_worker_ids_ports_and_prefixes_follow_the_edge_contract() -> None:
    config = settings(cluster={"hostname": "Teller-B.bank.example"}, server={"port": 8000})
    first, second = worker_identity(config, 0), worker_identity(config, 1)
    assert (first.worker_id, first.port, first.prefix) == ("teller-b-00", 8100, "/w/teller-b-00")
    assert (second.worker_id, second.port) == ("teller-b-01", 8101)
    assert listen_ports(config, first) == [8100, 8000], "worker 00 also serves the pages"
    assert listen_ports(config, second) == [8101]
    with pytest.raises(ClusterConfigError, match="host name"):
        worker_identity(settings(cluster={"hostname": "teller_a"}), 0)
    with pytest.raises(ValueError, match="ttl_s"):
        settings(cluster={"heartbeat_s": 2.0, "ttl_s": 1.0})


def test_serve_takes_a_worker_count() -> None:
    args = build_parser().parse_args(["serve", "--workers", "4", "--host", "0.0.0.0"])
    assert (args.workers, args.worker_index, args.host) == (4, None, "0.0.0.0")
