"""additional_vips on load balancer create."""
from __future__ import annotations

import uuid

from portus.amphora.render import render_haproxy
from portus.amphora.spec import AmphoraRuntime
from portus.common.config import SubnetConfig
from portus.controller.snapshot import load_balancer_spec
from portus.db import models as m

from tests.functional.conftest import Api, assert_fault, row_counts

LBS = "/v2/lbaas/loadbalancers"


def create(api: Api, extra: list[dict[str, str]]) -> object:
    return api.post(LBS, json={"loadbalancer": {"vip_subnet_id": api.subnet_id,
                                                "project_id": "p1", "additional_vips": extra}})


def test_allocated_shown_and_released(api: Api, second: SubnetConfig) -> None:
    r = create(api, [{"subnet_id": second.id}])
    assert r.status_code == 201, r.text  # type: ignore[attr-defined]
    lb = r.json()["loadbalancer"]  # type: ignore[attr-defined]
    [extra] = lb["additional_vips"]
    assert extra["subnet_id"] == second.id and extra["ip_address"] == second.allocation_start
    assert api.show("loadbalancer", lb["id"])["additional_vips"] == lb["additional_vips"]
    listed = api.expect("GET", LBS, 200)["loadbalancers"]
    assert listed[0]["additional_vips"] == lb["additional_vips"]
    # The next load balancer gets the next address; the VIP pool and extras are shared.
    api.converge(lb["id"])
    r2 = create(api, [{"subnet_id": second.id}])
    assert r2.json()["loadbalancer"]["additional_vips"][0]["ip_address"] != extra["ip_address"]  # type: ignore[attr-defined]
    # Delete: the address is released (the row is kept until purge).
    api.expect("DELETE", f"{LBS}/{lb['id']}", 204)
    api.converge(lb["id"])
    with api.db.read() as session:
        row = session.get(m.AdditionalVip, (lb["id"], second.id))
        assert row is not None and row.ip_address is None


def test_requested_address_and_conflicts(api: Api, second: SubnetConfig) -> None:
    r = create(api, [{"subnet_id": second.id, "ip_address": "198.51.100.50"}])
    assert r.json()["loadbalancer"]["additional_vips"][0]["ip_address"] == "198.51.100.50"  # type: ignore[attr-defined]
    assert_fault(create(api, [{"subnet_id": second.id, "ip_address": "198.51.100.50"}]), 409,
                 "already allocated")


def test_validation(api: Api, second: SubnetConfig) -> None:
    before = row_counts(api.db)
    assert_fault(create(api, [{"subnet_id": str(uuid.uuid4())}]), 400, "Subnet not found")
    assert_fault(create(api, [{"subnet_id": second.id}, {"subnet_id": second.id}]), 400,
                 "used twice")
    assert_fault(create(api, [{"subnet_id": api.subnet_id}]), 400, "used twice")
    assert_fault(create(api, [{"subnet_id": second.id, "ip_address": "192.0.2.1"}]), 400,
                 "not in subnet")
    assert_fault(create(api, [{"ip_address": "198.51.100.9"}]), 400, "subnet_id")
    assert_fault(create(api, [{"subnet_id": second.id, "bogus": 1}]), 400, "bogus")
    assert row_counts(api.db) == before


def test_rendered_binds_every_vip(api: Api, second: SubnetConfig) -> None:
    listener = {"protocol": "HTTP", "protocol_port": 80}
    r = api.post(LBS, json={"loadbalancer": {
        "vip_subnet_id": api.subnet_id, "project_id": "p1", "listeners": [listener],
        "additional_vips": [{"subnet_id": second.id, "ip_address": "198.51.100.60"}]}})
    assert r.status_code == 201, r.text
    lb = r.json()["loadbalancer"]
    with api.db.read() as session:
        spec = load_balancer_spec(session, session.get(m.LoadBalancer, lb["id"]))  # type: ignore[arg-type]
    assert spec.additional_vips == ("198.51.100.60",)
    text = render_haproxy(spec, AmphoraRuntime(amphora_id="a" * 8, base_dir="/run/x"))
    assert f"    bind {lb['vip_address']}:80\n" in text
    assert "    bind 198.51.100.60:80\n" in text
