"""[api] strict_pending_lock: Octavia's 409 while PENDING_* (true) or changes folded into
the running convergence (false, the default)."""
from __future__ import annotations

from typing import Any, Iterator

import pytest
import sqlalchemy as sa

from portus.amphora.spec import AmphoraRuntime
from portus.common import constants as C
from portus.controller.lease import Leases
from portus.controller.worker import Reconciler
from portus.db import models as m, status

from tests.functional.conftest import Api, assert_fault
from tests.functional.worker_doubles import FakeAgents, FakeAmphorae


@pytest.fixture
def relaxed(api: Api) -> Iterator[Api]:
    """The default mode (the shared test fixture runs strict, as Octavia)."""
    api.cfg.api.strict_pending_lock = False
    try:
        yield api
    finally:
        api.cfg.api.strict_pending_lock = True


def generations(api: Api, lb_id: str) -> tuple[int, int]:
    with api.db.read() as session:
        lb = session.get(m.LoadBalancer, lb_id)
        assert lb is not None
        return lb.desired_generation, lb.applied_generation


def members_path(pool_id: str) -> str:
    return f"/v2/lbaas/pools/{pool_id}/members"


def test_default_is_relaxed() -> None:
    from portus.common.config import ApiConfig
    assert ApiConfig().strict_pending_lock is False


def test_strict_refuses_changes_while_pending(api: Api) -> None:
    ids = api.tree(members=0)
    api.create_member(ids["pool"], settle=False)
    r = api.post(members_path(ids["pool"]), json={"member": {"address": "192.0.2.20",
                                                              "protocol_port": 80}})
    assert_fault(r, 409, "Invalid state PENDING_UPDATE of loadbalancer resource")


def test_relaxed_folds_member_creates_into_one_convergence(relaxed: Api) -> None:
    api = relaxed
    ids = api.tree(members=0)
    before, _ = generations(api, ids["lb"])
    created = [api.create_member(ids["pool"], settle=False, address=f"192.0.2.{20 + i}")
               for i in range(3)]
    assert api.lb_status(ids["lb"]) == C.PENDING_UPDATE
    desired, _ = generations(api, ids["lb"])
    assert desired == before + 3
    # A worker that rendered the first change cannot finish: newer changes arrived.
    with api.db.write() as session:
        assert not status.finish_generation(session, ids["lb"], before + 1)
    assert api.lb_status(ids["lb"]) == C.PENDING_UPDATE
    api.converge(ids["lb"])
    assert api.lb_status(ids["lb"]) == C.ACTIVE
    for mb in created:
        assert api.show("member", mb["id"], ids["pool"])["provisioning_status"] == C.ACTIVE


def test_relaxed_keeps_pending_create(relaxed: Api) -> None:
    api = relaxed
    lb = api.create_lb(settle=False)
    listener = api.create_listener(lb["id"], settle=False)
    api.expect("PUT", f"/v2/lbaas/loadbalancers/{lb['id']}", 200,
               {"loadbalancer": {"name": "renamed"}})
    assert api.lb_status(lb["id"]) == C.PENDING_CREATE
    assert api.show("listener", listener["id"])["provisioning_status"] == C.PENDING_CREATE
    assert generations(api, lb["id"]) == (3, 0)
    api.converge(lb["id"])
    assert api.lb_status(lb["id"]) == C.ACTIVE
    assert api.show("loadbalancer", lb["id"])["name"] == "renamed"


def test_relaxed_update_of_unapplied_member_stays_pending_create(relaxed: Api) -> None:
    api = relaxed
    ids = api.tree(members=0)
    mb = api.create_member(ids["pool"], settle=False)
    out = api.expect("PUT", f"{members_path(ids['pool'])}/{mb['id']}", 200,
                     {"member": {"weight": 5}})
    assert out["member"]["provisioning_status"] == C.PENDING_CREATE
    assert out["member"]["weight"] == 5


def test_delete_pending_create_member(relaxed: Api) -> None:
    api = relaxed
    ids = api.tree(members=0)
    mb = api.create_member(ids["pool"], settle=False)
    api.expect("DELETE", f"{members_path(ids['pool'])}/{mb['id']}", 204)
    api.converge(ids["lb"])
    api.expect("GET", f"{members_path(ids['pool'])}/{mb['id']}", 404)
    assert api.lb_status(ids["lb"]) == C.ACTIVE


def test_relaxed_refuses_changes_to_an_object_being_deleted(relaxed: Api) -> None:
    api = relaxed
    ids = api.tree(members=1)
    path = f"{members_path(ids['pool'])}/{ids['member']}"
    api.expect("DELETE", path, 204)
    assert_fault(api.put(path, json={"member": {"weight": 3}}), 409, "PENDING_DELETE")
    assert_fault(api.delete(path), 409, "PENDING_DELETE")


def test_relaxed_still_refuses_a_load_balancer_being_deleted(relaxed: Api) -> None:
    api = relaxed
    lb = api.create_lb()
    api.expect("DELETE", f"/v2/lbaas/loadbalancers/{lb['id']}", 204)
    r = api.post("/v2/lbaas/listeners", json={"listener": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80}})
    assert_fault(r, 409, "Invalid state PENDING_DELETE")
    api.converge(lb["id"])
    r = api.post("/v2/lbaas/listeners", json={"listener": {
        "loadbalancer_id": lb["id"], "protocol": "HTTP", "protocol_port": 80}})
    assert r.status_code in (400, 404), r.text  # the body names a missing load balancer


def test_relaxed_delete_of_converging_load_balancer(relaxed: Api) -> None:
    api = relaxed
    lb = api.create_lb(settle=False)
    api.expect("DELETE", f"/v2/lbaas/loadbalancers/{lb['id']}", 204)
    assert api.lb_status(lb["id"]) == C.PENDING_DELETE


def test_strict_refuses_delete_of_converging_load_balancer(api: Api) -> None:
    lb = api.create_lb(settle=False)
    assert_fault(api.delete(f"/v2/lbaas/loadbalancers/{lb['id']}"), 409, "PENDING_CREATE")


# --- the worker folds changes that arrive while it converges --------------------------

class _Agents(FakeAgents):
    """The first push lets a client change the tree."""

    def __init__(self, during_first_push: Any) -> None:
        super().__init__()
        self.during_first_push = during_first_push

    def put_config(self, amp_id: str, ip: str, text: str, generation: int,
                   keepalived: str | None = None) -> None:
        super().put_config(amp_id, ip, text, generation, keepalived)
        if len(self.generations) == 1:
            self.during_first_push()


def test_worker_loops_until_every_change_is_applied(relaxed: Api) -> None:
    api = relaxed
    ids = api.tree(members=0)
    api.create_member(ids["pool"], settle=False)
    statuses: list[str] = []

    def change() -> None:  # a client adds a member while the worker pushes
        api.create_member(ids["pool"], settle=False, address="192.0.2.30")
        statuses.append(api.lb_status(ids["lb"]))

    agents = _Agents(change)
    reconciler = Reconciler(api.cfg, api.db, Leases(api.db, "test", 30.0),
                            FakeAmphorae(), agents)  # type: ignore[arg-type]
    assert reconciler.converge(ids["lb"]) is None
    desired, applied = generations(api, ids["lb"])
    assert agents.generations == [desired - 1, desired]  # rendered twice, the second time all
    assert applied == desired
    assert statuses == [C.PENDING_UPDATE]
    assert api.lb_status(ids["lb"]) == C.ACTIVE
    with api.db.read() as session:
        pending = session.execute(sa.select(sa.func.count()).select_from(m.Member).where(
            m.Member.provisioning_status != C.ACTIVE)).scalar_one()
    assert pending == 0
    assert AmphoraRuntime  # the runtime type the worker builds (import kept for clarity)


def test_relaxed_cannot_resurrect_a_pool_being_deleted(relaxed: Api) -> None:
    api = relaxed
    ids = api.tree(members=0, hm=False)
    api.expect("PUT", f"/v2/lbaas/listeners/{ids['listener']}", 200,
               {"listener": {"default_pool_id": None}})
    api.expect("DELETE", f"/v2/lbaas/pools/{ids['pool']}", 204)
    r = api.put(f"/v2/lbaas/pools/{ids['pool']}", json={"pool": {"name": "again"}})
    assert_fault(r, 409, "PENDING_DELETE")
    r = api.post(members_path(ids["pool"]), json={"member": {"address": "192.0.2.9",
                                                             "protocol_port": 80}})
    assert_fault(r, 409, "PENDING_DELETE")
    api.converge(ids["lb"])
    api.expect("GET", f"/v2/lbaas/pools/{ids['pool']}", 404)


def test_relaxed_listener_update_keeps_pending_create(relaxed: Api) -> None:
    api = relaxed
    lb = api.create_lb()
    listener = api.create_listener(lb["id"], settle=False)
    out = api.expect("PUT", f"/v2/lbaas/listeners/{listener['id']}", 200,
                     {"listener": {"name": "x"}})
    assert out["listener"]["provisioning_status"] == C.PENDING_CREATE


def test_relaxed_batch_relisting_a_member_being_deleted_is_409(relaxed: Api) -> None:
    api = relaxed
    ids = api.tree(members=1, hm=False)
    api.expect("DELETE", f"{members_path(ids['pool'])}/{ids['member']}", 204)
    r = api.put(members_path(ids["pool"]), json={"members": [
        {"address": "192.0.2.10", "protocol_port": 8080}]})
    assert_fault(r, 409, "PENDING_DELETE")
    r = api.put(members_path(ids["pool"]), json={"members": [
        {"address": "192.0.2.99", "protocol_port": 80}]})
    assert r.status_code == 202, r.text  # the deleted one stays deleted, the new one comes
    api.converge(ids["lb"])
    got = api.expect("GET", members_path(ids["pool"]), 200)["members"]
    assert [mb["address"] for mb in got] == ["192.0.2.99"]
