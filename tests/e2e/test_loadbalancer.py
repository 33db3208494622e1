"""A load balancer through openstacksdk, carrying real HTTP through real amphorae."""
from __future__ import annotations

import collections
import signal
import threading
import time

import openstack
import pytest

from tests.e2e.harness import PortusLab, create_http_lb, lb_status, wait_active, wait_for

HTTP_MONITOR = {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1,
                "max_retries_down": 1, "url_path": "/"}

pytestmark = pytest.mark.e2e


def _member_states(sdk: openstack.connection.Connection, pool_id: str) -> dict[str, str]:
    return {m.name: m.operating_status for m in sdk.load_balancer.members(pool_id)}


def _spread(lab: PortusLab, vip: str, n: int = 20) -> collections.Counter[str]:
    return collections.Counter(lab.get(vip) or "error" for _ in range(n))


def test_traffic_health_and_delete(lab: PortusLab, sdk: openstack.connection.Connection) -> None:
    be1, be2 = lab.backend("be1", 0), lab.backend("be2", 1)
    lb = create_http_lb(sdk, lab, [be1, be2], healthmonitor=HTTP_MONITOR)
    wait_active(sdk, lb.id)
    vip = lb.vip_address
    pool = next(sdk.load_balancer.pools(loadbalancer_id=lb.id))

    wait_for("both members ONLINE",
             lambda: _member_states(sdk, pool.id) == {"be1": "ONLINE", "be2": "ONLINE"}, 20)
    spread = _spread(lab, vip)
    assert spread == {"hello from be1": 10, "hello from be2": 10}

    be2.stop()
    wait_for("be2 ERROR", lambda: _member_states(sdk, pool.id)["be2"] == "ERROR", 20)
    assert _spread(lab, vip) == {"hello from be1": 20}
    assert sdk.load_balancer.get_load_balancer(lb.id).operating_status == "DEGRADED"

    be2.start()
    wait_for("be2 ONLINE again", lambda: _member_states(sdk, pool.id)["be2"] == "ONLINE", 20)
    assert set(_spread(lab, vip)) == {"hello from be1", "hello from be2"}

    stats = sdk.load_balancer.get_load_balancer_statistics(lb.id)
    assert stats.total_connections > 0

    sdk.load_balancer.delete_load_balancer(lb.id, cascade=True)
    wait_for("the load balancer gone",
             lambda: sdk.load_balancer.find_load_balancer(lb.id) is None, 30, 0.1)
    assert lab.amphora_namespaces() == []
    assert lab.amphora_pids() == []
    assert [p for p in lab.bridge_ports(lab.mgmt.bridge)] == []
    assert [p for p in lab.bridge_ports(lab.subnet.bridge)
            if p not in {b.host_ifname for b in lab.backends}] == []
    assert lab.get(vip, timeout=0.5) is None


def test_controller_killed_mid_create_recovers(lab: PortusLab,
                                               sdk: openstack.connection.Connection) -> None:
    be1 = lab.backend("be1", 0)
    lb = create_http_lb(sdk, lab, [be1], healthmonitor=HTTP_MONITOR)
    # Kill the controller as soon as it has started building the amphora.
    wait_for("the amphora namespace", lab.amphora_namespaces, 20, 0.005)
    lab.kill(signal.SIGKILL)
    assert _wait_status_after_restart(lab, sdk, lb.id) == "ACTIVE"
    assert len(lab.amphora_namespaces()) == 1
    wait_for("traffic through the VIP", lambda: lab.get(lb.vip_address) == "hello from be1", 20)


def _wait_status_after_restart(lab: PortusLab, sdk: openstack.connection.Connection,
                               lb_id: str) -> str:
    lab.start()
    wait_active(sdk, lb_id, timeout=60)
    return lb_status(sdk, lb_id)


def test_controller_restart_keeps_traffic_and_adopts(lab: PortusLab,
                                                     sdk: openstack.connection.Connection) -> None:
    be1, be2 = lab.backend("be1", 0), lab.backend("be2", 1)
    lb = create_http_lb(sdk, lab, [be1], healthmonitor=HTTP_MONITOR)
    wait_active(sdk, lb.id)
    vip = lb.vip_address
    wait_for("traffic", lambda: lab.get(vip) == "hello from be1", 20)
    namespaces = lab.amphora_namespaces()
    pids = sorted(lab.amphora_pids())

    failures: list[str] = []
    answered = 0
    stop = threading.Event()

    def probe() -> None:
        nonlocal answered
        while not stop.is_set():
            if lab.get(vip, timeout=1.0) == "hello from be1":
                answered += 1
            else:
                failures.append(time.strftime("%X"))
            time.sleep(0.01)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        time.sleep(0.3)
        lab.kill(signal.SIGKILL)
        time.sleep(1.0)
        lab.start()
        time.sleep(0.5)
    finally:
        stop.set()
        prober.join()
    assert failures == [] and answered > 20

    # The restarted controller adopted the amphora: same namespace, same processes,
    # and it still converges changes onto it.
    assert lab.amphora_namespaces() == namespaces
    assert sorted(lab.amphora_pids()) == pids
    pool = next(sdk.load_balancer.pools(loadbalancer_id=lb.id))
    sdk.load_balancer.create_member(pool.id, name="be2", address=be2.address,
                                    protocol_port=be2.port)
    wait_active(sdk, lb.id)
    wait_for("both backends answer", lambda: set(_spread(lab, vip, 10)) ==
             {"hello from be1", "hello from be2"}, 20)
    assert lab.amphora_namespaces() == namespaces
