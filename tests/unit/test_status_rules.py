"""The status transitions shared by the API and the worker (portus.db.status), on SQLite."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import select

from portus.common import constants as C
from portus.db import models as m, status
from portus.db.session import Database


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.from_url(f"sqlite:///{tmp_path / 'status.db'}")
    m.Base.metadata.create_all(database.engine)
    yield database
    database.dispose()


def _named(obj_id: str, state: str) -> dict[str, Any]:
    return {"id": obj_id, "name": obj_id, "project_id": "p", "provisioning_status": state,
            "operating_status": C.OFFLINE}


def make_tree(db: Database, prefix: str = "", lb_state: str = C.ACTIVE, child_state: str = C.ACTIVE,
              generation: int = 1) -> dict[str, str]:
    """lb -> listener -> default pool -> two members + monitor, plus a spare pool."""
    ids = {k: prefix + k for k in ("lb", "listener", "pool", "m1", "m2", "hm", "spare")}
    with db.write() as s:
        lb = m.LoadBalancer(**_named(ids["lb"], lb_state), provider="amphora", topology="SINGLE",
                            desired_generation=generation, applied_generation=generation - 1)
        octet = 10 + (ord(prefix[0]) - 90 if prefix else 0)
        lb.vip = m.Vip(ip_address=f"198.18.1.{octet}", subnet_id="s", network_id="n")
        s.add(lb)
        s.flush()
        s.add_all([m.Pool(**_named(ids["pool"], child_state), load_balancer_id=ids["lb"],
                          protocol="HTTP", lb_algorithm="ROUND_ROBIN"),
                   m.Pool(**_named(ids["spare"], child_state), load_balancer_id=ids["lb"],
                          protocol="TCP", lb_algorithm="ROUND_ROBIN")])
        s.flush()
        s.add(m.Listener(**_named(ids["listener"], child_state), load_balancer_id=ids["lb"],
                         protocol="HTTP", protocol_port=80, l4_family="TCP",
                         default_pool_id=ids["pool"]))
        s.add_all([m.Member(**_named(ids[k], child_state), pool_id=ids["pool"],
                            address=f"192.0.2.{i}", protocol_port=80)
                   for i, k in enumerate(("m1", "m2"))])
        s.add(m.HealthMonitor(**_named(ids["hm"], child_state), pool_id=ids["pool"], type="TCP",
                              delay=1, timeout=1, rise_threshold=1, fall_threshold=3))
    return ids


def states(db: Database) -> dict[str, str]:
    out: dict[str, str] = {}
    with db.read() as s:
        for cls in (m.LoadBalancer, m.Listener, m.Pool, m.Member, m.HealthMonitor):
            for obj_id, state in s.execute(select(cls.id, cls.provisioning_status)):  # type: ignore[attr-defined]
                out[obj_id] = state
    return out


def lb_row(db: Database, lb_id: str) -> m.LoadBalancer:
    with db.read() as s:
        lb = s.get(m.LoadBalancer, lb_id)
        assert lb is not None
        return lb


def set_state(db: Database, cls: type, obj_id: str, state: str) -> None:
    with db.write() as s:
        obj = s.get(cls, obj_id)
        assert obj is not None
        obj.provisioning_status = state  # type: ignore[attr-defined]


# --- lock_lb -----------------------------------------------------------------------

def test_lock_moves_an_active_lb_to_pending_update_and_bumps_the_generation(db: Database) -> None:
    ids = make_tree(db, generation=4)
    with db.write() as s:
        lb = s.get(m.LoadBalancer, ids["lb"])
        assert lb is not None
        lb.converge_attempts, lb.status_reason = 2, "old failure"
    with db.write() as s:
        status.lock_lb(s, ids["lb"])
    lb = lb_row(db, ids["lb"])
    assert lb.provisioning_status == C.PENDING_UPDATE
    assert lb.desired_generation == 5 and lb.applied_generation == 3
    assert lb.converge_attempts == 0 and lb.status_reason is None
    # Children are untouched by the lock itself.
    assert {k: v for k, v in states(db).items() if k != ids["lb"]} == {
        k: C.ACTIVE for k in ids.values() if k != ids["lb"]}


@pytest.mark.parametrize("state", [C.PENDING_CREATE, C.PENDING_UPDATE, C.PENDING_DELETE, C.ERROR])
def test_lock_refuses_other_states(db: Database, state: str) -> None:
    ids = make_tree(db, lb_state=state)
    with db.write() as s, pytest.raises(status.LockFailed) as info:
        status.lock_lb(s, ids["lb"])
    assert info.value.state == state and info.value.lb_id == ids["lb"]
    lb = lb_row(db, ids["lb"])
    assert lb.provisioning_status == state and lb.desired_generation == 1


def test_lock_with_other_allowed_states_and_target(db: Database) -> None:
    ids = make_tree(db, lb_state=C.ERROR)
    with db.write() as s:
        status.lock_lb(s, ids["lb"], new_status=C.PENDING_DELETE, allowed=(C.ACTIVE, C.ERROR))
    assert lb_row(db, ids["lb"]).provisioning_status == C.PENDING_DELETE


def test_lock_of_a_missing_or_deleted_lb_reports_no_state(db: Database) -> None:
    with db.write() as s, pytest.raises(status.LockFailed) as info:
        status.lock_lb(s, "nope")
    assert info.value.state is None
    ids = make_tree(db, lb_state=C.DELETED)
    with db.write() as s, pytest.raises(status.LockFailed) as info:
        status.lock_lb(s, ids["lb"], allowed=(C.ACTIVE, C.ERROR))
    assert info.value.state is None


def test_only_one_of_two_locks_wins(db: Database) -> None:
    ids = make_tree(db)
    with db.write() as s:
        status.lock_lb(s, ids["lb"])
    with db.write() as s, pytest.raises(status.LockFailed):
        status.lock_lb(s, ids["lb"])
    assert lb_row(db, ids["lb"]).desired_generation == 2


def test_mark_pending_update_only_touches_active_objects(db: Database) -> None:
    ids = make_tree(db)
    set_state(db, m.Listener, ids["listener"], C.PENDING_CREATE)
    with db.write() as s:
        status.mark_pending_update(s, m.Listener, [ids["listener"]])
        status.mark_pending_update(s, m.Pool, [ids["pool"], None, ""])  # type: ignore[list-item]
        status.mark_pending_update(s, m.Member, [])
    st = states(db)
    assert st[ids["listener"]] == C.PENDING_CREATE
    assert st[ids["pool"]] == C.PENDING_UPDATE
    assert st[ids["spare"]] == C.ACTIVE and st[ids["m1"]] == C.ACTIVE


def test_listeners_of_pool(db: Database) -> None:
    ids = make_tree(db)
    with db.read() as s:
        assert status.listeners_of_pool(s, ids["pool"]) == [ids["listener"]]
        assert status.listeners_of_pool(s, ids["spare"]) == []


# --- finish_generation ---------------------------------------------------------------

def test_finish_marks_the_pending_tree_active(db: Database) -> None:
    ids = make_tree(db, lb_state=C.PENDING_CREATE, child_state=C.PENDING_CREATE, generation=3)
    set_state(db, m.Member, ids["m2"], C.PENDING_UPDATE)
    with db.write() as s:
        assert status.finish_generation(s, ids["lb"], 3) is True
    assert set(states(db).values()) == {C.ACTIVE}
    lb = lb_row(db, ids["lb"])
    assert lb.applied_generation == 3 and lb.converge_attempts == 0


def test_finish_of_an_old_generation_changes_nothing(db: Database) -> None:
    ids = make_tree(db, lb_state=C.PENDING_UPDATE, child_state=C.PENDING_UPDATE, generation=3)
    with db.write() as s:
        assert status.finish_generation(s, ids["lb"], 2) is False
    assert set(states(db).values()) == {C.PENDING_UPDATE}
    assert lb_row(db, ids["lb"]).applied_generation == 2


def test_finish_keeps_objects_in_error(db: Database) -> None:
    ids = make_tree(db, lb_state=C.PENDING_UPDATE)
    set_state(db, m.Member, ids["m1"], C.ERROR)
    with db.write() as s:
        assert status.finish_generation(s, ids["lb"], 1)
    st = states(db)
    assert st[ids["m1"]] == C.ERROR and st[ids["lb"]] == C.ACTIVE


def test_finish_removes_what_was_pending_delete(db: Database) -> None:
    ids = make_tree(db, lb_state=C.PENDING_UPDATE)
    set_state(db, m.Member, ids["m2"], C.PENDING_DELETE)
    set_state(db, m.HealthMonitor, ids["hm"], C.PENDING_DELETE)
    with db.write() as s:
        assert status.finish_generation(s, ids["lb"], 1)
    st = states(db)
    assert ids["m2"] not in st and ids["hm"] not in st
    assert st[ids["m1"]] == C.ACTIVE and st[ids["pool"]] == C.ACTIVE


def test_finish_removes_a_deleted_pool_with_its_members_and_unlinks_listeners(
        db: Database) -> None:
    ids = make_tree(db, lb_state=C.PENDING_UPDATE)
    set_state(db, m.Pool, ids["pool"], C.PENDING_DELETE)
    with db.write() as s:
        assert status.finish_generation(s, ids["lb"], 1)
    st = states(db)
    for gone in ("pool", "m1", "m2", "hm"):
        assert ids[gone] not in st, gone
    assert st[ids["listener"]] == C.ACTIVE and st[ids["spare"]] == C.ACTIVE
    with db.read() as s:
        listener = s.get(m.Listener, ids["listener"])
        assert listener is not None and listener.default_pool_id is None


def test_finish_removes_a_deleted_listener_but_keeps_its_pool(db: Database) -> None:
    ids = make_tree(db, lb_state=C.PENDING_UPDATE)
    set_state(db, m.Listener, ids["listener"], C.PENDING_DELETE)
    with db.write() as s:
        assert status.finish_generation(s, ids["lb"], 1)
    st = states(db)
    assert ids["listener"] not in st and st[ids["pool"]] == C.ACTIVE


def test_finish_leaves_other_load_balancers_alone(db: Database) -> None:
    mine = make_tree(db, "a-", lb_state=C.PENDING_UPDATE, child_state=C.PENDING_UPDATE)
    other = make_tree(db, "b-", lb_state=C.PENDING_UPDATE, child_state=C.PENDING_DELETE)
    with db.write() as s:
        assert status.finish_generation(s, mine["lb"], 1)
    st = states(db)
    assert all(st[v] == C.ACTIVE for v in mine.values())
    assert st[other["lb"]] == C.PENDING_UPDATE
    assert all(st[v] == C.PENDING_DELETE for k, v in other.items() if k != "lb")


# --- fail_generation -----------------------------------------------------------------

def test_fail_puts_pending_objects_and_the_lb_in_error(db: Database) -> None:
    ids = make_tree(db, lb_state=C.PENDING_UPDATE)
    set_state(db, m.Member, ids["m1"], C.PENDING_CREATE)
    set_state(db, m.Member, ids["m2"], C.PENDING_DELETE)
    set_state(db, m.Pool, ids["pool"], C.PENDING_UPDATE)
    other = make_tree(db, "b-", lb_state=C.PENDING_UPDATE, child_state=C.PENDING_UPDATE)
    with db.write() as s:
        status.fail_generation(s, ids["lb"], "x" * 5000)
    st = states(db)
    assert (st[ids["m1"]], st[ids["m2"]], st[ids["pool"]], st[ids["lb"]]) == (C.ERROR,) * 4
    assert st[ids["listener"]] == C.ACTIVE and st[ids["hm"]] == C.ACTIVE
    lb = lb_row(db, ids["lb"])
    assert lb.status_reason == "x" * 4000
    assert all(st[v] == C.PENDING_UPDATE for v in other.values())


def test_a_lock_after_failure_clears_the_reason(db: Database) -> None:
    ids = make_tree(db, lb_state=C.PENDING_UPDATE)
    with db.write() as s:
        status.fail_generation(s, ids["lb"], "boom")
    with db.write() as s:
        status.lock_lb(s, ids["lb"], allowed=(C.ACTIVE, C.ERROR))
    lb = lb_row(db, ids["lb"])
    assert lb.status_reason is None and lb.provisioning_status == C.PENDING_UPDATE


# --- mark_deleted ----------------------------------------------------------------------

def test_mark_deleted_removes_the_tree_and_keeps_a_deleted_row(db: Database) -> None:
    ids = make_tree(db, lb_state=C.PENDING_DELETE)
    other = make_tree(db, "b-")
    with db.write() as s:
        lb = s.get(m.LoadBalancer, ids["lb"])
        assert lb is not None
        lb.lease_owner, lb.lease_expires, lb.operating_status = "me", 123.5, C.ONLINE
    with db.write() as s:
        status.mark_deleted(s, ids["lb"])
    st = states(db)
    assert st[ids["lb"]] == C.DELETED
    assert all(v not in st for k, v in ids.items() if k != "lb")
    assert all(st[v] == C.ACTIVE for v in other.values())
    with db.read() as s:
        lb = s.get(m.LoadBalancer, ids["lb"])
        assert lb is not None
        assert lb.operating_status == C.OFFLINE
        assert lb.lease_owner is None and lb.lease_expires is None
        assert lb.vip.ip_address is None  # the address is free for a new VIP
        kept = s.get(m.LoadBalancer, other["lb"])
        assert kept is not None and kept.vip.ip_address is not None
