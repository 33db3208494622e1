"""UDP through a real amphora: nftables DNAT to two UDP echo backends, health checked.

(SCTP cannot be tested end to end here: this kernel has no SCTP sockets.)"""
from __future__ import annotations

import collections
import shutil
import socket

import openstack
import pytest

from tests.e2e.harness import PROJECT, PortusLab, wait_active, wait_for

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(shutil.which("nft") is None, reason="needs nft (nftables)")]

UDP_MONITOR = {"type": "UDP-CONNECT", "delay": 3, "timeout": 1, "max_retries": 1,
               "max_retries_down": 1}


def _members(sdk: openstack.connection.Connection, pool_id: str) -> dict[str, str]:
    return {m.name: m.operating_status for m in sdk.load_balancer.members(pool_id)}


def _spread(lab: PortusLab, vip: str, n: int = 20) -> collections.Counter[str]:
    return collections.Counter(lab.udp(vip, 53) or "no answer" for _ in range(n))


def _ask(lab: PortusLab, sock: socket.socket, vip: str) -> str | None:
    lab._check_target(vip)
    sock.sendto(b"ping\n", (vip, 53))
    try:
        return sock.recv(2048).decode().strip()
    except OSError:
        return None


def _flow_to(lab: PortusLab, vip: str, name: str) -> socket.socket:
    """A UDP socket whose flow the amphora maps to backend ``name``."""
    for _ in range(10):
        sock = lab.udp_socket()
        if _ask(lab, sock, vip) == f"hello from {name}":
            return sock
        sock.close()
    raise AssertionError(f"no flow reached {name}")


def test_udp_round_robin_health_and_tcp_beside_it(lab: PortusLab,
                                                  sdk: openstack.connection.Connection) -> None:
    be1, be2 = lab.backend("u1", 0, port=5353, udp=True), lab.backend("u2", 1, port=5353, udp=True)
    web = lab.backend("web", 2)
    dns_pool = {"name": "dns", "protocol": "UDP", "lb_algorithm": "ROUND_ROBIN",
                "healthmonitor": UDP_MONITOR,
                "members": [{"name": b.name, "address": b.address, "protocol_port": b.port}
                            for b in (be1, be2)]}
    web_pool = {"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                "members": [{"name": "web", "address": web.address, "protocol_port": web.port}]}
    lb = sdk.load_balancer.create_load_balancer(
        name="udp", project_id=PROJECT, vip_subnet_id=lab.subnet.id, listeners=[
            {"name": "dns", "protocol": "UDP", "protocol_port": 53, "default_pool": dns_pool},
            {"name": "http", "protocol": "HTTP", "protocol_port": 80, "default_pool": web_pool}])
    wait_active(sdk, lb.id)
    vip = lb.vip_address
    pool = next(p for p in sdk.load_balancer.pools(loadbalancer_id=lb.id) if p.name == "dns")
    wait_for("both UDP members ONLINE",
             lambda: _members(sdk, pool.id) == {"u1": "ONLINE", "u2": "ONLINE"}, 30)

    # Each datagram comes from a new socket: a new flow, so the next slot of the map.
    assert _spread(lab, vip) == {"hello from u1": 10, "hello from u2": 10}
    assert lab.get(vip, 80) == "hello from web"  # HAProxy beside nftables, same VIP

    stuck = _flow_to(lab, vip, "u2")  # one flow (a fixed source port) mapped to u2
    be2.stop()
    wait_for("u2 ERROR", lambda: _members(sdk, pool.id)["u2"] == "ERROR", 30)
    assert _spread(lab, vip) == {"hello from u1": 20}
    # Its conntrack entry went with u2: the flow's next datagram is mapped again.
    assert _ask(lab, stuck, vip) == "hello from u1"
    stuck.close()
    wait_for("the load balancer DEGRADED", lambda: sdk.load_balancer.get_load_balancer(
        lb.id).operating_status == "DEGRADED", 10)

    be2.start()
    wait_for("u2 ONLINE again", lambda: _members(sdk, pool.id)["u2"] == "ONLINE", 30)
    assert _spread(lab, vip) == {"hello from u1": 10, "hello from u2": 10}

    listener = next(li for li in sdk.load_balancer.listeners(loadbalancer_id=lb.id)
                    if li.protocol == "UDP")
    wait_for("UDP listener statistics", lambda: sdk.load_balancer.get_listener_statistics(
        listener.id).total_connections >= 60, 10)
    stats = sdk.load_balancer.get_listener_statistics(listener.id)
    assert stats.bytes_in >= 60 * len(b"ping\n") and stats.bytes_out >= 60 * len(b"hello from u1\n")

    sdk.load_balancer.delete_load_balancer(lb.id, cascade=True)
    wait_for("the load balancer gone",
             lambda: sdk.load_balancer.find_load_balancer(lb.id) is None, 30, 0.1)
