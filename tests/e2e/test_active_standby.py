"""ACTIVE_STANDBY with real amphorae: two namespaces, keepalived VRRP between them.

The MASTER is killed (every process in its namespace stopped, then SIGKILLed, as a
crash: keepalived gets no chance to send its priority-0 advert) while a prober sends
a request to the VIP every 20 ms. The outage is printed, never asserted: it depends
on the host. What is asserted: traffic goes on through the BACKUP, and the health
manager builds a replacement that joins as BACKUP; an amphora whose keepalived alone
died is replaced too.
"""
from __future__ import annotations

import json
import signal
import time
from typing import Any

import openstack
import pytest

from portus.amphora.agent import unix_command
from portus.drivers import ipcmd
from tests.e2e.harness import (PROJECT, PortusLab, Prober, create_http_lb, kill_and_wait,
                               process_name, wait_active, wait_for)

pytestmark = pytest.mark.e2e

HELLO = "hello from be1"


def _ha_flavor(sdk: openstack.connection.Connection) -> Any:
    profile = sdk.load_balancer.create_flavor_profile(
        name="ha", provider_name="amphora",
        flavor_data=json.dumps({"loadbalancer_topology": "ACTIVE_STANDBY"}))
    return sdk.load_balancer.create_flavor(name="ha", flavor_profile_id=profile.id,
                                           enabled=True)


def _active_standby_lb(lab: PortusLab, sdk: openstack.connection.Connection) -> Any:
    be1 = lab.backend("be1", 0)
    lb = create_http_lb(sdk, lab, [be1], name="e2e-ha", flavor_id=_ha_flavor(sdk).id)
    wait_active(sdk, lb.id)
    wait_for("traffic", lambda: lab.get(lb.vip_address) == HELLO, 30)
    return lb


def _pair(sdk: openstack.connection.Connection, lb_id: str) -> dict[str, Any]:
    """The ALLOCATED amphorae by role."""
    amps = [a for a in sdk.load_balancer.amphorae(loadbalancer_id=lb_id)
            if a.status == "ALLOCATED"]
    return {a.role: a for a in amps}


def _holds(namespace: str, address: str) -> bool:
    out = ipcmd.run(["-j", "addr", "show", "dev", "vip0"], netns=namespace)
    return any(a.get("local") == address for link in json.loads(out)
               for a in link.get("addr_info", []))


def test_master_killed_backup_serves_and_is_replaced(
        lab: PortusLab, sdk: openstack.connection.Connection) -> None:
    lb = _active_standby_lb(lab, sdk)
    vip = lb.vip_address
    pair = _pair(sdk, lb.id)
    assert set(pair) == {"MASTER", "BACKUP"}
    master, backup = pair["MASTER"], pair["BACKUP"]
    assert len(lab.amphora_namespaces()) == 2
    for amp in (master, backup):
        assert amp.ha_ip == vip and amp.vrrp_ip not in (None, vip)
        assert amp.vrrp_interface == "vip0" and amp.vrrp_id == 1
    assert master.vrrp_priority > backup.vrrp_priority
    wait_for("the MASTER to hold the VIP", lambda: _holds(master.compute_id, vip), 10)
    assert not _holds(backup.compute_id, vip)

    with Prober(lab, vip, HELLO, timeout=0.25) as prober:
        time.sleep(1.0)
        pids = ipcmd.netns_pids(master.compute_id)
        # A crash: no goodbye advert from keepalived (stopped processes stay alive, so
        # no waiting).
        kill_and_wait(pids, signal.SIGSTOP, timeout=0)
        killed_at = time.monotonic()
        kill_and_wait(pids, signal.SIGKILL)
        assert ipcmd.netns_pids(master.compute_id) == []
        wait_for("the BACKUP to take the VIP", lambda: _holds(backup.compute_id, vip), 5, 0.01)
        takeover = time.monotonic() - killed_at
        wait_for("traffic through the BACKUP", lambda: prober.last_ok is not None
                 and prober.last_ok > killed_at, 10, 0.01)
        assert lab.get(vip) == HELLO
        wait_for("a replacement amphora", lambda: (
            master.compute_id not in lab.amphora_namespaces()
            and len(lab.amphora_namespaces()) == 2), 60, 0.1)
        wait_active(sdk, lb.id)
        time.sleep(0.5)
    print(f"\nACTIVE_STANDBY, MASTER killed: VIP on the BACKUP after {takeover * 1000:.0f} ms; "
          f"outage {prober.outage * 1000:.0f} ms ({prober.failed} of {prober.sent} probes "
          f"failed; a probe every 20 ms, 250 ms timeout each); heartbeat timeout 5 s before "
          f"the replacement")
    assert prober.failed < prober.sent
    pair = _pair(sdk, lb.id)
    assert pair["MASTER"].id == backup.id  # the survivor keeps the VIP
    assert pair["BACKUP"].id not in (master.id, backup.id)
    assert pair["BACKUP"].vrrp_priority < pair["MASTER"].vrrp_priority
    assert _holds(backup.compute_id, vip) and not _holds(pair["BACKUP"].compute_id, vip)
    assert lab.get(vip) == HELLO

    # keepalived alone crashes on the new BACKUP: its agent stops the heartbeats, so
    # the health manager replaces it; the MASTER serves throughout.
    new_backup = pair["BACKUP"]
    with Prober(lab, vip, HELLO, timeout=0.25) as prober:
        pids = [p for p in ipcmd.netns_pids(new_backup.compute_id) if process_name(p) == "keepalived"]
        assert pids
        kill_and_wait(pids, signal.SIGSTOP, timeout=0)
        kill_and_wait(pids, signal.SIGKILL)
        wait_for("the BACKUP without keepalived replaced", lambda: (
            new_backup.compute_id not in lab.amphora_namespaces()
            and len(lab.amphora_namespaces()) == 2), 60, 0.1)
        wait_active(sdk, lb.id)
    print(f"ACTIVE_STANDBY, keepalived killed on the BACKUP: outage "
          f"{prober.outage * 1000:.0f} ms ({prober.failed} of {prober.sent} probes failed)")
    pair = _pair(sdk, lb.id)
    assert pair["MASTER"].id == backup.id and pair["BACKUP"].id != new_backup.id
    assert lab.get(vip) == HELLO


def test_failovers_through_the_api(lab: PortusLab, sdk: openstack.connection.Connection
                                   ) -> None:
    lb = _active_standby_lb(lab, sdk)
    vip = lb.vip_address
    before = _pair(sdk, lb.id)

    # Amphora failover of the MASTER: the BACKUP takes over, a new BACKUP joins.
    with Prober(lab, vip, HELLO, timeout=0.25) as prober:
        sdk.load_balancer.failover_amphora(before["MASTER"].id)
        wait_for("the MASTER replaced", lambda: before["MASTER"].compute_id
                 not in lab.amphora_namespaces(), 60, 0.1)
        wait_active(sdk, lb.id)
    after = _pair(sdk, lb.id)
    assert after["MASTER"].id == before["BACKUP"].id
    assert after["BACKUP"].id not in (before["MASTER"].id, before["BACKUP"].id)
    assert lab.get(vip) == HELLO
    print(f"\nACTIVE_STANDBY amphora failover (MASTER): outage {prober.outage * 1000:.0f} ms "
          f"({prober.failed} of {prober.sent} probes failed)")

    # Load balancer failover: both replaced, one at a time.
    old = {a.compute_id for a in after.values()}
    with Prober(lab, vip, HELLO, timeout=0.25) as prober:
        sdk.load_balancer.failover_load_balancer(lb.id)
        wait_for("both amphorae replaced", lambda: old.isdisjoint(lab.amphora_namespaces())
                 and len(lab.amphora_namespaces()) == 2, 90, 0.1)
        wait_active(sdk, lb.id)
    final = _pair(sdk, lb.id)
    assert set(final) == {"MASTER", "BACKUP"}
    assert {a.compute_id for a in final.values()}.isdisjoint(old)
    wait_for("traffic", lambda: lab.get(vip) == HELLO, 10)
    print(f"ACTIVE_STANDBY load balancer failover: outage {prober.outage * 1000:.0f} ms "
          f"({prober.failed} of {prober.sent} probes failed)")

    # Deleting the load balancer removes both amphorae.
    sdk.load_balancer.delete_load_balancer(lb.id, cascade=True)
    wait_for("both namespaces removed", lambda: lab.amphora_namespaces() == [], 60, 0.1)
    assert lab.get(vip, timeout=0.5) is None


def _stick_entries(lab: PortusLab, amphora_id: str, backend: str) -> list[str]:
    """The rows of a backend's stick table, from the amphora's stats socket."""
    socket_path = str(lab.run_dir / "amphorae" / amphora_id / "haproxy.sock")
    out = unix_command(socket_path, f"show table {backend}")
    return [line for line in out.splitlines() if "key=" in line]


def test_stick_table_is_shared_with_the_backup(
        lab: PortusLab, sdk: openstack.connection.Connection) -> None:
    """SOURCE_IP persistence survives a MASTER crash: the BACKUP's HAProxy learns each
    entry from the MASTER's through the peers section."""
    be1, be2 = lab.backend("be1", 0), lab.backend("be2", 1)
    pool = {"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
            "session_persistence": {"type": "SOURCE_IP"},
            "members": [{"name": b.name, "address": b.address, "protocol_port": b.port}
                        for b in (be1, be2)]}
    lb = sdk.load_balancer.create_load_balancer(
        name="e2e-sticky", project_id=PROJECT, vip_subnet_id=lab.subnet.id,
        flavor_id=_ha_flavor(sdk).id, listeners=[{"name": "http", "protocol": "HTTP",
                                                  "protocol_port": 80, "default_pool": pool}])
    wait_active(sdk, lb.id)
    vip = lb.vip_address
    pair = _pair(sdk, lb.id)
    master, backup = pair["MASTER"], pair["BACKUP"]
    wait_for("the MASTER to hold the VIP", lambda: _holds(master.compute_id, vip), 10)
    listener = next(sdk.load_balancer.listeners(loadbalancer_id=lb.id))
    pool_id = next(sdk.load_balancer.pools(loadbalancer_id=lb.id)).id
    backend = f"{pool_id}:{listener.id}"

    first = wait_for("an answer", lambda: lab.get(vip), 10)
    assert {lab.get(vip) for _ in range(10)} == {first}  # this client sticks to one member
    (entry,) = _stick_entries(lab, master.id, backend)
    wait_for("the entry on the BACKUP",
             lambda: len(_stick_entries(lab, backup.id, backend)) == 1, 10, 0.05)
    (copied,) = _stick_entries(lab, backup.id, backend)
    server = [f for f in entry.split() if f.startswith("server_id=")]
    assert server and server == [f for f in copied.split() if f.startswith("server_id=")]

    pids = ipcmd.netns_pids(master.compute_id)
    kill_and_wait(pids, signal.SIGSTOP, timeout=0)
    kill_and_wait(pids, signal.SIGKILL)
    wait_for("the BACKUP to take the VIP", lambda: _holds(backup.compute_id, vip), 5, 0.01)
    assert {wait_for("an answer", lambda: lab.get(vip), 10) for _ in range(10)} == {first}


def test_haproxy_killed_on_the_master(lab: PortusLab, sdk: openstack.connection.Connection
                                      ) -> None:
    """keepalived's track script hands the VIP to the BACKUP; the MASTER's agent starts
    HAProxy again and, with the higher priority, the MASTER takes the VIP back."""
    lb = _active_standby_lb(lab, sdk)
    vip = lb.vip_address
    pair = _pair(sdk, lb.id)
    master = pair["MASTER"]
    wait_for("the MASTER to hold the VIP", lambda: _holds(master.compute_id, vip), 10)
    namespaces = sorted(lab.amphora_namespaces())
    with Prober(lab, vip, HELLO, timeout=0.25) as prober:
        time.sleep(0.5)
        pids = [p for p in ipcmd.netns_pids(master.compute_id) if process_name(p) == "haproxy"]
        assert pids
        kill_and_wait(pids, signal.SIGKILL)
        wait_for("HAProxy started again on the MASTER", lambda: any(
            process_name(p) == "haproxy" for p in ipcmd.netns_pids(master.compute_id)), 10, 0.05)
        wait_for("the MASTER to hold the VIP again",
                 lambda: _holds(master.compute_id, vip), 15, 0.05)
        time.sleep(0.5)
    print(f"\nACTIVE_STANDBY, HAProxy killed on the MASTER: outage "
          f"{prober.outage * 1000:.0f} ms ({prober.failed} of {prober.sent} probes failed)")
    assert sorted(lab.amphora_namespaces()) == namespaces  # nothing was replaced
    assert lab.get(vip) == HELLO
