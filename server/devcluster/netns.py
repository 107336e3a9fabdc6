"""Network namespaces wired to this host by veth pairs: customers (and workers) on networks of their own.

Each namespace sits on a /30 with the host and has no default route, so it reaches only the
host's address on its own link. ``customer_and_worker`` (the relay test) keeps a worker in a
namespace too: the customer has no path to it but through coturn. ``customer_link`` is a lone
customer namespace in front of a cluster on this host (``bench/scale_out.py``); there the
host's link address is also a worker's (every host address is an ICE candidate), so
``allow_only`` firewalls the customer down to nginx and coturn (iptables in its namespace).

Needs root and iproute2 (``ip netns``); ``allow_only`` needs iptables.
"""

from __future__ import annotations

import ipaddress
import os
import random
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Link:
    """A namespace on a /30 with the host: the host's end and the namespace's end."""

    netns: str
    host_ip: str
    inner_ip: str

    def exec_in(self, *argv: str) -> list[str]:
        """``argv`` run inside this namespace."""
        return ["ip", "netns", "exec", self.netns, *argv]


@dataclass(frozen=True)
class Topology:
    customer: Link  # coturn and nginx listen on customer.host_ip, the one address it can reach
    worker: Link  # coturn relays from worker.host_ip; the worker listens on worker.inner_ip

    def exec_in(self, link: Link, *argv: str) -> list[str]:
        """``argv`` run inside ``link``'s namespace."""
        return link.exec_in(*argv)


def netns_unavailable() -> str | None:
    """Why this process can't create network namespaces (root, iproute2), or None."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns)"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"ip netns is not available: {probe.stderr.strip()}"
    return None


def firewall_unavailable() -> str | None:
    """Why ``allow_only`` can't run here (namespaces, iptables), or None."""
    reason = netns_unavailable()
    if reason is None and shutil.which("iptables") is None:
        reason = "iptables is not installed (apt-get install iptables)"
    return reason


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _used_networks() -> list[ipaddress.IPv4Network]:
    """The IPv4 networks of this host's addresses and routes (not to be reused)."""
    used: list[ipaddress.IPv4Network] = []
    for command in (["ip", "-4", "-o", "addr", "show"], ["ip", "-4", "route", "show", "table", "all"]):
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        for word in out.split():
            try:
                network = ipaddress.ip_network(word, strict=False)
            except ValueError:
                continue
            if isinstance(network, ipaddress.IPv4Network):
                used.append(network)
    return used


def _free_block() -> ipaddress.IPv4Network:
    """A random 10.x.y.0/24 that no address or route of this host overlaps."""
    used = _used_networks()
    rng = random.SystemRandom()
    for _ in range(200):
        block = ipaddress.IPv4Network(f"10.{rng.randrange(1, 255)}.{rng.randrange(0, 256)}.0/24")
        if not any(block.overlaps(net) for net in used if net.prefixlen > 0):
            return block
    raise RuntimeError("no free 10.x.y.0/24 for the namespaces")


def _wire(netns: str, tag: str, host_ip: str, inner_ip: str) -> Link:
    host_if, inner_if = f"dt{tag}h", f"dt{tag}n"  # at most 15 characters
    _ip("netns", "add", netns)
    _ip("-n", netns, "link", "set", "lo", "up")
    _ip("link", "add", host_if, "type", "veth", "peer", "name", inner_if)
    _ip("link", "set", inner_if, "netns", netns)
    _ip("addr", "add", f"{host_ip}/30", "dev", host_if)
    _ip("link", "set", host_if, "up")
    _ip("-n", netns, "addr", "add", f"{inner_ip}/30", "dev", inner_if)
    _ip("-n", netns, "link", "set", inner_if, "up")
    return Link(netns, host_ip, inner_ip)


def _require() -> None:
    reason = netns_unavailable()
    if reason is not None:
        raise RuntimeError(reason)


@contextmanager
def _namespaces(roles: list[str]) -> Iterator[list[Link]]:
    """One namespace per role ("c", "w", ...), each on its own /30 of one free block; deleted
    (with their veths) when the block ends, however it ends."""
    _require()
    suffix = secrets.token_hex(3)
    base = _free_block().network_address
    names = [f"dt-{role}-{suffix}" for role in roles]
    try:
        links = [
            _wire(name, f"{role}{suffix}", str(base + 4 * i + 1), str(base + 4 * i + 2))
            for i, (name, role) in enumerate(zip(names, roles, strict=True))
        ]
        yield links
    finally:
        for name in names:  # deleting a namespace deletes its veth end, and so the pair
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        for role in roles:  # in case a pair was made but not yet moved
            subprocess.run(["ip", "link", "del", f"dt{role}{suffix}h"], capture_output=True, check=False)


@contextmanager
def customer_and_worker() -> Iterator[Topology]:
    """A customer's and a worker's namespace; the worker reaches the customer's host address
    (where coturn listens) through the host, the customer nothing beyond its link."""
    with _namespaces(["cust", "work"]) as (customer, worker):
        _ip("-n", worker.netns, "route", "add", f"{customer.host_ip}/32", "via", worker.host_ip)
        yield Topology(customer, worker)


@contextmanager
def customer_link() -> Iterator[Link]:
    """A lone customer namespace; it reaches only ``host_ip`` (firewall it with ``allow_only``)."""
    with _namespaces(["cust"]) as (customer,):
        yield customer


def allow_only(link: Link, *, tcp: tuple[int, ...] = (), udp: tuple[int, ...] = ()) -> None:
    """Let ``link``'s namespace talk to ``host_ip`` on these ports only, both ways (stateless
    iptables rules: a packet from the host on any other port is dropped too, so no peer-reflexive
    ICE path can form)."""
    rules: list[list[str]] = [
        ["-A", "OUTPUT", "-o", "lo", "-j", "ACCEPT"],
        ["-A", "INPUT", "-i", "lo", "-j", "ACCEPT"],
    ]
    for proto, ports in (("tcp", tcp), ("udp", udp)):
        for port in ports:
            rules.append(
                ["-A", "OUTPUT", "-d", link.host_ip, "-p", proto, "--dport", str(port), "-j", "ACCEPT"]
            )
            rules.append(
                ["-A", "INPUT", "-s", link.host_ip, "-p", proto, "--sport", str(port), "-j", "ACCEPT"]
            )
    rules += [["-P", "OUTPUT", "DROP"], ["-P", "INPUT", "DROP"]]
    for rule in rules:
        subprocess.run(link.exec_in("iptables", "-w", *rule), check=True, capture_output=True, text=True)
