"""Failover with real amphorae: through the API, and after an amphora dies.

The outage (first failed to first good request through the VIP) is printed, not
asserted: it depends on the host.
"""
from __future__ import annotations

import time
from typing import Any

import openstack
import pytest

from portus.drivers import ipcmd
from tests.e2e.harness import (PortusLab, Prober, create_http_lb, kill_and_wait, process_name,
                               wait_active, wait_for)

pytestmark = pytest.mark.e2e


def _amphorae(sdk: openstack.connection.Connection, lb_id: str) -> list[Any]:
    return [a for a in sdk.load_balancer.amphorae(loadbalancer_id=lb_id)
            if a.status == "ALLOCATED"]


def _replaced(lab: PortusLab, sdk: openstack.connection.Connection, lb_id: str,
              old_namespaces: list[str], vip: str, expected: str) -> None:
    wait_for("a new amphora namespace",
             lambda: lab.amphora_namespaces() and set(lab.amphora_namespaces()).isdisjoint(
                 old_namespaces), 60, 0.1)
    wait_active(sdk, lb_id)
    wait_for("traffic through the new amphora", lambda: lab.get(vip) == expected, 30, 0.05)
    assert len(lab.amphora_namespaces()) == 1
    assert len(_amphorae(sdk, lb_id)) == 1


def test_failover_through_the_api(lab: PortusLab, sdk: openstack.connection.Connection) -> None:
    be1 = lab.backend("be1", 0)
    lb = create_http_lb(sdk, lab, [be1], name="e2e-failover")
    wait_active(sdk, lb.id)
    vip = lb.vip_address
    wait_for("traffic", lambda: lab.get(vip) == "hello from be1", 30)

    # Amphora failover (admin API).
    [amp] = _amphorae(sdk, lb.id)
    before = lab.amphora_namespaces()
    assert amp.compute_id in before
    started = time.monotonic()
    with Prober(lab, vip, "hello from be1") as prober:
        sdk.load_balancer.failover_amphora(amp.id)
        _replaced(lab, sdk, lb.id, before, vip, "hello from be1")
        took = time.monotonic() - started
    [new_amp] = _amphorae(sdk, lb.id)
    assert new_amp.id != amp.id and new_amp.ha_ip == vip
    assert sdk.load_balancer.get_load_balancer(lb.id).vip_address == vip
    print(f"\namphora failover via API: outage {prober.outage:.2f} s, replaced in {took:.2f} s")

    # Load balancer failover.
    before = lab.amphora_namespaces()
    started = time.monotonic()
    with Prober(lab, vip, "hello from be1") as prober:
        sdk.load_balancer.failover_load_balancer(lb.id)
        _replaced(lab, sdk, lb.id, before, vip, "hello from be1")
        took = time.monotonic() - started
    print(f"load balancer failover via API: outage {prober.outage:.2f} s, "
          f"replaced in {took:.2f} s")


def test_dead_amphora_is_replaced_by_the_health_manager(
        lab: PortusLab, sdk: openstack.connection.Connection) -> None:
    be1 = lab.backend("be1", 0)
    lb = create_http_lb(sdk, lab, [be1], name="e2e-failover")
    wait_active(sdk, lb.id)
    vip = lb.vip_address
    wait_for("traffic", lambda: lab.get(vip) == "hello from be1", 30)
    before = lab.amphora_namespaces()
    with Prober(lab, vip, "hello from be1") as prober:
        time.sleep(0.3)
        killed_at = time.monotonic()
        kill_and_wait(lab.amphora_pids())  # SIGKILL everything in the namespace
        assert lab.amphora_pids() == []
        _replaced(lab, sdk, lb.id, before, vip, "hello from be1")
        back = time.monotonic() - killed_at
    print(f"\namphora killed: outage {prober.outage:.2f} s (traffic back {back:.2f} s after "
          f"the kill; heartbeat timeout 5 s)")
    assert sdk.load_balancer.get_load_balancer(lb.id).vip_address == vip


def test_dead_haproxy_is_started_again_in_place(
        lab: PortusLab, sdk: openstack.connection.Connection) -> None:
    """HAProxy alone dies: the amphora's agent starts it again on the applied
    configuration; nothing is rebuilt."""
    be1 = lab.backend("be1", 0)
    lb = create_http_lb(sdk, lab, [be1], name="e2e-haproxy")
    wait_active(sdk, lb.id)
    vip = lb.vip_address
    wait_for("traffic", lambda: lab.get(vip) == "hello from be1", 30)
    (namespace,) = lab.amphora_namespaces()
    with Prober(lab, vip, "hello from be1") as prober:
        time.sleep(0.3)
        pids = [p for p in ipcmd.netns_pids(namespace) if process_name(p) == "haproxy"]
        assert pids
        kill_and_wait(pids)
        wait_for("traffic again", lambda: prober.recovered is not None, 10, 0.05)
    print(f"\nHAProxy killed in a SINGLE amphora: outage {prober.outage * 1000:.0f} ms "
          f"({prober.failed} of {prober.sent} probes failed)")
    assert prober.failed > 0  # it was down: the kill worked
    assert lab.amphora_namespaces() == [namespace]
    assert lab.get(vip) == "hello from be1"
