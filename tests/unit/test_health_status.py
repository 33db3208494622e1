"""Operating status from one heartbeat: portus.controller.health_manager.tree_statuses and
member_status (pure functions, Octavia's rules)."""
from __future__ import annotations

from typing import Any

import pytest

from portus.common import constants as C
from portus.controller.health_manager import member_status, tree_statuses


# --- member_status ---------------------------------------------------------------------

@pytest.mark.parametrize("reported, expected", [
    ("UP", C.ONLINE),
    ("UP 1/3", C.ONLINE),  # going down, still serving
    ("DOWN", C.ERROR),
    ("DOWN 1/2", C.ERROR),  # going up, not serving yet
    ("DRAIN", C.DRAINING),
    ("NOLB", C.DRAINING),
    ("MAINT", C.OFFLINE),  # admin down
    ("no check", C.NO_MONITOR),
    ("NO CHECK", C.NO_MONITOR),
    ("", C.OFFLINE),
    ("SOMETHING ELSE", C.OFFLINE),
])
def test_member_status_from_haproxy(reported: str, expected: str) -> None:
    assert member_status(reported, C.OFFLINE) == expected
    assert member_status(reported, C.NO_MONITOR) == expected


@pytest.mark.parametrize("current, expected", [
    (C.NO_MONITOR, C.NO_MONITOR), (C.ONLINE, C.OFFLINE), (C.ERROR, C.OFFLINE),
    (C.OFFLINE, C.OFFLINE), (C.DRAINING, C.OFFLINE)])
def test_absent_member(current: str, expected: str) -> None:
    assert member_status(None, current) == expected


# --- tree_statuses -----------------------------------------------------------------------

def row(obj_id: str, enabled: bool = True, status: str = C.OFFLINE, **extra: Any) -> dict[str, Any]:
    return {"id": obj_id, "enabled": enabled, "operating_status": status, **extra}


class Tree:
    """One load balancer: listener l1 -> pool p1 (members m1, m2)."""

    def __init__(self) -> None:
        self.lb = row("lb", provisioning_status=C.ACTIVE)
        self.listeners = [row("l1", default_pool_id="p1")]
        self.pools = {"p1": row("p1")}
        self.members = {"p1": [row("m1"), row("m2")]}

    def run(self, beat: dict[str, Any]) -> dict[tuple[str, str], str]:
        return tree_statuses(self.lb, self.listeners, self.pools, self.members, beat)


def beat(listener: str | None = "OPEN", pool: str | None = "UP",
         members: dict[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"listeners": {}, "pools": {}}
    if listener is not None:
        out["listeners"]["l1"] = {"status": listener, "stats": {}}
    if pool is not None:
        out["pools"]["p1:l1"] = {"status": pool,
                                 "members": {"m1": "UP", "m2": "UP"} if members is None
                                 else members}
    return out


def test_everything_up() -> None:
    assert Tree().run(beat()) == {
        ("loadbalancer", "lb"): C.ONLINE, ("listener", "l1"): C.ONLINE,
        ("pool", "p1"): C.ONLINE, ("member", "m1"): C.ONLINE, ("member", "m2"): C.ONLINE}


def test_member_down_degrades_pool_and_lb() -> None:
    out = Tree().run(beat(members={"m1": "UP", "m2": "DOWN"}))
    assert out[("member", "m2")] == C.ERROR and out[("member", "m1")] == C.ONLINE
    assert out[("pool", "p1")] == C.DEGRADED
    assert out[("listener", "l1")] == C.ONLINE
    assert out[("loadbalancer", "lb")] == C.DEGRADED


def test_pool_down_is_error_and_lb_error() -> None:
    out = Tree().run(beat(pool="DOWN", members={"m1": "DOWN", "m2": "DOWN"}))
    assert out[("pool", "p1")] == C.ERROR
    assert out[("member", "m1")] == C.ERROR and out[("member", "m2")] == C.ERROR
    assert out[("loadbalancer", "lb")] == C.ERROR


def test_error_beats_degraded_across_listeners() -> None:
    tree = Tree()
    tree.listeners.append(row("l2", default_pool_id="p2"))
    tree.pools["p2"] = row("p2")
    tree.members["p2"] = [row("m3")]
    hb = beat(members={"m1": "UP", "m2": "DOWN"})
    hb["listeners"]["l2"] = {"status": "OPEN"}
    hb["pools"]["p2:l2"] = {"status": "DOWN", "members": {"m3": "DOWN"}}
    out = tree.run(hb)
    assert out[("pool", "p1")] == C.DEGRADED and out[("pool", "p2")] == C.ERROR
    assert out[("loadbalancer", "lb")] == C.ERROR


@pytest.mark.parametrize("reported, expected", [
    ("DRAIN", C.DRAINING), ("MAINT", C.OFFLINE), ("no check", C.NO_MONITOR)])
def test_member_states_do_not_degrade_the_pool(reported: str, expected: str) -> None:
    out = Tree().run(beat(members={"m1": "UP", "m2": reported}))
    assert out[("member", "m2")] == expected
    assert out[("pool", "p1")] == C.ONLINE and out[("loadbalancer", "lb")] == C.ONLINE


def test_member_absent_from_the_heartbeat() -> None:
    tree = Tree()
    tree.members["p1"] = [row("m1"), row("m2", status=C.NO_MONITOR), row("m3", status=C.ONLINE)]
    out = tree.run(beat(members={"m1": "UP"}))
    assert out[("member", "m2")] == C.NO_MONITOR
    assert out[("member", "m3")] == C.OFFLINE
    assert out[("pool", "p1")] == C.ONLINE


def test_listener_full_is_degraded() -> None:
    out = Tree().run(beat(listener="FULL"))
    assert out[("listener", "l1")] == C.DEGRADED
    assert out[("loadbalancer", "lb")] == C.DEGRADED
    assert out[("pool", "p1")] == C.ONLINE


def test_listener_missing_is_error() -> None:
    out = Tree().run(beat(listener=None, pool=None))
    assert out[("listener", "l1")] == C.ERROR
    # Its pool and members are left as they are: nothing was reported about them.
    assert ("pool", "p1") not in out and ("member", "m1") not in out


@pytest.mark.parametrize("state", [C.PENDING_CREATE, C.PENDING_UPDATE])
def test_listener_missing_while_the_lb_is_being_changed_is_offline(state: str) -> None:
    """Octavia: a missing listener is ERROR only when the load balancer is ACTIVE; a new
    listener is not in the heartbeat until its configuration has been applied."""
    tree = Tree()
    tree.lb["provisioning_status"] = state
    out = tree.run(beat(listener=None, pool=None))
    assert out[("listener", "l1")] == C.OFFLINE


def test_listener_unknown_status_is_offline() -> None:
    assert Tree().run(beat(listener="STOP"))[("listener", "l1")] == C.OFFLINE


def test_pool_absent_is_offline() -> None:
    out = Tree().run(beat(pool=None))
    assert out[("pool", "p1")] == C.OFFLINE
    assert out[("member", "m1")] == C.OFFLINE and out[("member", "m2")] == C.OFFLINE
    assert out[("loadbalancer", "lb")] == C.ONLINE


def test_disabled_listener_is_offline() -> None:
    tree = Tree()
    tree.listeners[0]["enabled"] = False
    out = tree.run(beat(listener=None, pool=None))
    assert out[("listener", "l1")] == C.OFFLINE
    assert out[("loadbalancer", "lb")] == C.ONLINE


def test_disabled_pool_is_offline() -> None:
    tree = Tree()
    tree.pools["p1"]["enabled"] = False
    out = tree.run(beat(pool="DOWN", members={"m1": "MAINT", "m2": "MAINT"}))
    assert out[("pool", "p1")] == C.OFFLINE
    assert out[("loadbalancer", "lb")] == C.ONLINE


def test_disabled_load_balancer_is_offline_with_its_listeners() -> None:
    tree = Tree()
    tree.lb["enabled"] = False
    out = tree.run(beat(pool="DOWN", members={"m1": "DOWN", "m2": "DOWN"}))
    assert out[("loadbalancer", "lb")] == C.OFFLINE
    assert out[("listener", "l1")] == C.OFFLINE


def test_listener_without_pool() -> None:
    tree = Tree()
    tree.listeners[0]["default_pool_id"] = None
    out = tree.run(beat(pool=None))
    assert out == {("loadbalancer", "lb"): C.ONLINE, ("listener", "l1"): C.ONLINE}


def test_empty_load_balancer_is_online() -> None:
    out = tree_statuses(row("lb", provisioning_status=C.ACTIVE), [], {}, {},
                        {"listeners": {}, "pools": {}})
    assert out == {("loadbalancer", "lb"): C.ONLINE}
