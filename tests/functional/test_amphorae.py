"""/v2/octavia/amphorae (admin) and PUT /v2/lbaas/loadbalancers/{id}/failover."""
from __future__ import annotations

import uuid

from portus.common import constants as C
from portus.db import models as m

from tests.functional.conftest import Api, assert_fault, fail
from tests.functional.test_ipam import assert_consistent

AMP = "/v2/octavia/amphorae"
AMP_KEYS = {"id", "loadbalancer_id", "compute_id", "lb_network_ip", "vrrp_ip", "ha_ip",
            "vrrp_port_id", "ha_port_id", "cert_expiration", "cert_busy", "role", "status",
            "vrrp_interface", "vrrp_id", "vrrp_priority", "cached_zone", "image_id",
            "compute_flavor", "created_at", "updated_at"}


def add_amphora(api: Api, lb_id: str | None, status: str = C.AMP_ALLOCATED,
                ip: str = "198.18.0.10") -> str:
    amp_id = str(uuid.uuid4())
    with api.db.write() as session:
        session.add(m.Amphora(id=amp_id, load_balancer_id=lb_id, status=status,
                              role=C.ROLE_STANDALONE, lb_network_ip=ip,
                              compute_id="portus-amp-" + amp_id))
    return amp_id


def amp_status(api: Api, amp_id: str) -> str:
    with api.db.read() as session:
        amp = session.get(m.Amphora, amp_id)
        assert amp is not None
        return amp.status


def test_list_and_show(api: Api) -> None:
    lb = api.create_lb()
    a1 = add_amphora(api, lb["id"], ip="198.18.0.10")
    a2 = add_amphora(api, None, status=C.AMP_READY, ip="198.18.0.11")
    add_amphora(api, None, status=C.AMP_DELETED, ip="198.18.0.12")  # hidden
    body = api.expect("GET", AMP, 200)
    assert {a["id"] for a in body["amphorae"]} == {a1, a2}
    assert body["amphorae_links"] == []
    assert all(set(a) == AMP_KEYS for a in body["amphorae"])
    one = api.expect("GET", f"{AMP}/{a1}", 200)["amphora"]
    assert one["loadbalancer_id"] == lb["id"] and one["status"] == C.AMP_ALLOCATED
    assert one["role"] == C.ROLE_STANDALONE and one["cert_busy"] is False
    filtered = api.expect("GET", f"{AMP}?loadbalancer_id={lb['id']}", 200)["amphorae"]
    assert [a["id"] for a in filtered] == [a1]
    # gophercloud's amphorae.ListOpts has image_id: no amphora here has an image (nor
    # a cached zone or compute flavor), so none matches, where an unknown filter is 400.
    for key in ("image_id", "cached_zone", "compute_flavor"):
        assert api.expect("GET", f"{AMP}?{key}=x", 200)["amphorae"] == []
    assert_fault(api.get(f"{AMP}?colour=x"), 400,
                 "One or more arguments are either duplicate or invalid")
    page = api.expect("GET", f"{AMP}?limit=1", 200)
    assert len(page["amphorae"]) == 1 and page["amphorae_links"][0]["rel"] == "next"
    assert api.expect("GET", f"{AMP}/{a1}?fields=id&fields=status", 200)["amphora"] == {
        "id": a1, "status": C.AMP_ALLOCATED}
    assert_fault(api.get(f"{AMP}/{uuid.uuid4()}"), 404)


def test_delete_only_in_error(api: Api) -> None:
    lb = api.create_lb()
    live = add_amphora(api, lb["id"], ip="198.18.0.10")
    broken = add_amphora(api, lb["id"], status=C.AMP_ERROR, ip="198.18.0.11")
    assert_fault(api.delete(f"{AMP}/{live}"), 409, "ERROR")
    api.woken.clear()
    api.expect("DELETE", f"{AMP}/{broken}", 204)
    assert amp_status(api, broken) == C.AMP_PENDING_DELETE
    assert api.woken == [lb["id"]]  # the worker removes it
    assert api.lb_status(lb["id"]) == C.PENDING_UPDATE


def test_amphora_failover(api: Api) -> None:
    lb = api.create_lb()
    amp = add_amphora(api, lb["id"])
    api.woken.clear()
    r = api.put(f"{AMP}/{amp}/failover")
    assert r.status_code == 202, r.text
    assert amp_status(api, amp) == C.AMP_ERROR  # the worker replaces it
    assert api.lb_status(lb["id"]) == C.PENDING_UPDATE
    assert api.woken == [lb["id"]]
    # The load balancer must be ACTIVE.
    assert_fault(api.put(f"{AMP}/{amp}/failover"), 409, "PENDING_UPDATE")


def test_amphora_failover_needs_active_even_when_relaxed(api: Api) -> None:
    api.cfg.api.strict_pending_lock = False
    try:
        lb = api.create_lb(settle=False)
        amp = add_amphora(api, lb["id"])
        assert_fault(api.put(f"{AMP}/{amp}/failover"), 409, "PENDING_CREATE")
    finally:
        api.cfg.api.strict_pending_lock = True


def test_amphora_config(api: Api) -> None:
    lb = api.create_lb()
    amp = add_amphora(api, lb["id"])
    with api.db.read() as session:
        before = session.get(m.LoadBalancer, lb["id"]).desired_generation  # type: ignore[union-attr]
    assert api.put(f"{AMP}/{amp}/config").status_code == 202
    with api.db.read() as session:
        after = session.get(m.LoadBalancer, lb["id"]).desired_generation  # type: ignore[union-attr]
    assert after == before + 1 and api.lb_status(lb["id"]) == C.PENDING_UPDATE
    spare = add_amphora(api, None, status=C.AMP_READY, ip="198.18.0.30")
    assert_fault(api.put(f"{AMP}/{spare}/config"), 409)


def test_amphora_stats(api: Api) -> None:
    ids = api.tree(members=0)
    amp = add_amphora(api, ids["lb"])
    assert_fault(api.get(f"{AMP}/{amp}/stats"), 404, f"Amphora stats for {amp} not found.")
    with api.db.write() as session:
        session.add(m.ListenerStatistics(listener_id=ids["listener"], amphora_id=amp,
                                         bytes_in=10, bytes_out=20, active_connections=1,
                                         total_connections=5, request_errors=2))
    body = api.expect("GET", f"{AMP}/{amp}/stats", 200)
    assert body == {"amphora_stats": [{
        "id": amp, "listener_id": ids["listener"], "loadbalancer_id": ids["lb"],
        "active_connections": 1, "bytes_in": 10, "bytes_out": 20, "request_errors": 2,
        "total_connections": 5}]}


def test_loadbalancer_failover(api: Api) -> None:
    lb = api.create_lb()
    a1 = add_amphora(api, lb["id"], ip="198.18.0.10")
    a2 = add_amphora(api, lb["id"], status=C.AMP_BOOTING, ip="198.18.0.11")
    r = api.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover")
    assert r.status_code == 202 and not r.content
    assert {amp_status(api, a1), amp_status(api, a2)} == {C.AMP_ERROR}
    assert api.lb_status(lb["id"]) == C.PENDING_UPDATE
    assert_fault(api.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover"), 409, "PENDING_UPDATE")


def test_loadbalancer_failover_from_error(api: Api) -> None:
    lb = api.create_lb()
    add_amphora(api, lb["id"])
    fail(api.db, lb["id"])
    assert api.put(f"/v2/lbaas/loadbalancers/{lb['id']}/failover").status_code == 202
    assert api.lb_status(lb["id"]) == C.PENDING_UPDATE
    assert_fault(api.put(f"/v2/lbaas/loadbalancers/{uuid.uuid4()}/failover"), 404)


class _Compute:
    def __init__(self) -> None:
        self.deleted: list[str] = []

    def delete(self, amphora_id: str, namespace: str, base_dir: str) -> None:
        self.deleted.append(amphora_id)


def test_housekeeping_removes_deleted_spare(api: Api) -> None:
    from portus.controller.housekeeping import HouseKeeping
    lb = api.create_lb()
    spare = add_amphora(api, None, status=C.AMP_ERROR, ip="198.18.0.40")
    attached = add_amphora(api, lb["id"], status=C.AMP_ERROR, ip="198.18.0.41")
    api.expect("DELETE", f"{AMP}/{spare}", 204)
    api.expect("DELETE", f"{AMP}/{attached}", 204)
    compute = _Compute()
    hk = HouseKeeping(api.cfg, api.db, compute)  # type: ignore[arg-type]
    assert hk.remove_deleted_amphorae() == [spare]  # the worker handles the other one
    assert compute.deleted == [spare]
    assert amp_status(api, spare) == C.AMP_DELETED
    assert_fault(api.get(f"{AMP}/{spare}"), 404)


class _Agents:
    """The agent client as the pair planner sees it: who answers."""

    def __init__(self) -> None:
        self.answering: set[str] = set()

    def info(self, amphora_id: str, ip: str, timeout: float | None = None) -> dict[str, str]:
        from portus.drivers.amphora.rest_client import AgentUnreachable
        if amphora_id not in self.answering:
            raise AgentUnreachable(amphora_id)
        return {"amphora_id": amphora_id}


def test_active_standby_pair_and_its_vrrp_fields(api: Api) -> None:
    """The rows the worker writes for a pair (roles, VRRP addresses from the top of the
    VIP subnet's range), as the admin API shows them, and a failover's plan."""
    import ipaddress
    from typing import Any

    from portus.controller.amphorae import AmphoraManager
    from portus.drivers.compute.noop import NoopCompute
    from tests.functional.test_flavors import create_flavor, create_profile

    flavor = create_flavor(api, create_profile(
        api, {"loadbalancer_topology": "ACTIVE_STANDBY"})["id"])
    lb = api.create_lb(flavor_id=flavor["id"])
    agents = _Agents()
    manager = AmphoraManager(api.cfg, api.db, NoopCompute(), agents,  # type: ignore[arg-type]
                             None, "")  # type: ignore[arg-type]
    plan = manager._pair(lb["id"])
    assert [a.role for a in plan.serving] == [C.ROLE_MASTER, C.ROLE_BACKUP]
    assert plan.victims == [] and plan.complete
    subnet = api.cfg.network.subnets[0]
    top = ipaddress.ip_address(subnet.allocation_end)
    shown: dict[str, Any] = {}
    for amp in plan.serving:
        shown[amp.role] = api.expect("GET", f"{AMP}/{amp.id}", 200)["amphora"]
    assert {a["vrrp_ip"] for a in shown.values()} == {str(top), str(top - 1)}
    for role, body in shown.items():
        assert body["role"] == role and body["loadbalancer_id"] == lb["id"]
        assert body["ha_ip"] == lb["vip_address"] and body["ha_port_id"] == lb["vip_port_id"]
        assert body["vrrp_interface"] == "vip0" and body["vrrp_id"] == 1
        assert body["vrrp_port_id"] and body["vrrp_ip"] != lb["vip_address"]
        assert body["vrrp_priority"] == C.VRRP_PRIORITY[role]
    # A VRRP address is in use: a VIP cannot take it.
    response = api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {
        "vip_subnet_id": api.subnet_id, "project_id": "p1", "vip_address": str(top)}})
    assert_fault(response, 409, str(top))

    # The MASTER fails: the BACKUP becomes MASTER and a new BACKUP joins.
    master, backup = plan.serving
    with api.db.write() as session:
        session.get(m.Amphora, master.id).status = C.AMP_ERROR  # type: ignore[union-attr]
    plan = manager._pair(lb["id"])
    assert [a.id for a in plan.victims] == [master.id] and plan.complete
    assert plan.serving[0].id == backup.id and plan.serving[0].role == C.ROLE_MASTER
    assert plan.serving[1].role == C.ROLE_BACKUP and plan.serving[1].vrrp_ip == str(top - 2)
    assert api.expect("GET", f"{AMP}/{backup.id}", 200)["amphora"]["vrrp_priority"] == \
        C.VRRP_PRIORITY[C.ROLE_MASTER]

    # Load balancer failover: both fail; one that still answers serves meanwhile.
    with api.db.write() as session:
        for amp in plan.serving:
            session.get(m.Amphora, amp.id).status = C.AMP_ERROR  # type: ignore[union-attr]
    agents.answering = {a.id for a in plan.serving}
    kept = plan.serving[0]
    plan = manager._pair(lb["id"])
    assert not plan.complete and plan.serving[0].id == kept.id
    assert len(plan.serving) == 2 and plan.serving[1].role == C.ROLE_BACKUP
    assert kept.id not in {a.id for a in plan.victims}
    assert_consistent(api.db)
