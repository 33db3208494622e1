"""Redirect pools of L7 policies get operating status from heartbeats too."""
from __future__ import annotations

from portus.common import constants as C
from tests.unit.test_health_status import Tree, row


def test_redirect_pool_and_members_follow_the_heartbeat() -> None:
    tree = Tree()
    tree.listeners[0]["l7_pool_ids"] = ["p2", "p1"]  # p1 again: counted once
    tree.pools["p2"] = row("p2")
    tree.members["p2"] = [row("m3")]
    out = tree.run({"listeners": {"l1": {"status": "OPEN"}}, "pools": {
        "p1:l1": {"status": "UP", "members": {"m1": "UP", "m2": "UP"}},
        "p2:l1": {"status": "UP", "members": {"m3": "DOWN"}}}})
    assert out[("pool", "p2")] == C.DEGRADED
    assert out[("member", "m3")] == C.ERROR
    assert out[("pool", "p1")] == C.ONLINE
    assert out[("loadbalancer", "lb")] == C.DEGRADED


def test_redirect_pool_not_reported_is_offline() -> None:
    tree = Tree()
    tree.listeners[0]["l7_pool_ids"] = ["p2"]
    tree.pools["p2"] = row("p2", status=C.ONLINE)
    tree.members["p2"] = [row("m3", status=C.ONLINE)]
    out = tree.run({"listeners": {"l1": {"status": "OPEN"}}, "pools": {
        "p1:l1": {"status": "UP", "members": {"m1": "UP", "m2": "UP"}}}})
    assert out[("pool", "p2")] == C.OFFLINE and out[("member", "m3")] == C.OFFLINE
    assert out[("loadbalancer", "lb")] == C.ONLINE
