"""/v2/lbaas/flavors, and what a flavor does to a new load balancer."""
from __future__ import annotations

from typing import Any

import pytest

from portus.common import constants as C

from tests.functional.conftest import Api, assert_fault
from tests.functional.test_flavorprofiles import (  # noqa: F401 (fixture)
    NIL, compute_flavors, create_flavor, create_profile)

F = "/v2/lbaas/flavors"


def test_create_show_list(api: Api) -> None:
    fp = create_profile(api)
    flavor = create_flavor(api, fp["id"])
    assert flavor == {"id": flavor["id"], "name": "f", "description": "", "enabled": True,
                      "flavor_profile_id": fp["id"]}
    assert api.expect("GET", f"{F}/{flavor['id']}", 200) == {"flavor": flavor}
    assert api.expect("GET", F, 200) == {"flavors": [flavor], "flavors_links": []}
    other = create_flavor(api, fp["id"], name="g", description="off", enabled=False)
    assert (other["description"], other["enabled"]) == ("off", False)
    assert [f["name"] for f in api.expect("GET", f"{F}?enabled=false", 200)["flavors"]] == ["g"]
    assert [f["name"] for f in api.expect("GET", f"{F}?name=f", 200)["flavors"]] == ["f"]
    assert [f["name"] for f in api.expect("GET", f"{F}?sort=name:desc", 200)["flavors"]] == [
        "g", "f"]


def test_name_is_unique(api: Api) -> None:
    fp = create_profile(api)
    create_flavor(api, fp["id"])
    assert_fault(api.post(F, json={"flavor": {"name": "f", "flavor_profile_id": fp["id"]}}),
                 409, "already exists")
    other = create_flavor(api, fp["id"], name="g")
    assert_fault(api.put(f"{F}/{other['id']}", json={"flavor": {"name": "f"}}), 409)
    # Renaming to its own name is fine.
    api.expect("PUT", f"{F}/{other['id']}", 200, {"flavor": {"name": "g"}})


@pytest.mark.parametrize("body,code", [
    ({"name": "f"}, 400),
    ({"flavor_profile_id": "6f1d3c52-1f0e-4c4b-9b3e-7c2d0a9e5a11"}, 400),
    ({"name": "f", "flavor_profile_id": "not-a-uuid"}, 400),
    ({"name": "f", "flavor_profile_id": "6f1d3c52-1f0e-4c4b-9b3e-7c2d0a9e5a11"}, 400),
    ({"name": "f", "flavor_profile_id": NIL}, 400),
    ({"name": "x" * 256, "flavor_profile_id": NIL}, 400),
    ({"name": "f", "flavor_profile_id": NIL, "enabled": "true"}, 400),
])
def test_invalid_create(api: Api, body: dict[str, Any], code: int) -> None:
    assert_fault(api.post(F, json={"flavor": body}), code)


def test_update(api: Api) -> None:
    fp = create_profile(api)
    flavor = create_flavor(api, fp["id"])
    out = api.expect("PUT", f"{F}/{flavor['id']}", 200, {"flavor": {
        "name": "n", "description": "d", "enabled": False}})["flavor"]
    assert (out["name"], out["description"], out["enabled"]) == ("n", "d", False)
    # The profile is not mutable.
    assert_fault(api.put(f"{F}/{flavor['id']}", json={"flavor": {
        "flavor_profile_id": fp["id"]}}), 400, "flavor_profile_id")


def test_not_found(api: Api) -> None:
    for method in ("GET", "DELETE"):
        assert_fault(api.request(method, f"{F}/{NIL}"), 404, NIL)
        assert_fault(api.request(method, f"{F}/6f1d3c52-1f0e-4c4b-9b3e-7c2d0a9e5a11"), 404)


# --- load balancers with a flavor -------------------------------------------------------

def test_load_balancer_with_a_flavor(api: Api) -> None:
    flavor = create_flavor(api, create_profile(api, {"loadbalancer_topology": "SINGLE"})["id"])
    lb = api.create_lb(flavor_id=flavor["id"])
    assert (lb["flavor_id"], lb["provider"]) == (flavor["id"], "amphora")
    assert api.show("loadbalancer", lb["id"])["flavor_id"] == flavor["id"]
    assert [x["id"] for x in api.expect(
        "GET", f"/v2/lbaas/loadbalancers?flavor_id={flavor['id']}", 200)["loadbalancers"]] == [
        lb["id"]]
    # In use: the flavor cannot be deleted until the load balancer is gone.
    assert_fault(api.delete(f"{F}/{flavor['id']}"), 409, "is in use")
    api.expect("DELETE", f"/v2/lbaas/loadbalancers/{lb['id']}", 204)
    assert_fault(api.delete(f"{F}/{flavor['id']}"), 409)  # PENDING_DELETE still uses it
    api.converge(lb["id"])
    api.expect("DELETE", f"{F}/{flavor['id']}", 204)


def test_flavor_must_exist_and_be_enabled(api: Api) -> None:
    body = {"vip_subnet_id": api.subnet_id, "project_id": "p1"}
    response = api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": dict(
        body, flavor_id="6f1d3c52-1f0e-4c4b-9b3e-7c2d0a9e5a11")})
    assert_fault(response, 400, "Invalid flavor_id")
    flavor = create_flavor(api, create_profile(api)["id"], enabled=False)
    response = api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": dict(
        body, flavor_id=flavor["id"])})
    assert_fault(response, 400, "flavor", flavor["id"])


def test_provider_must_match_the_flavor(api: Api) -> None:
    flavor = create_flavor(api, create_profile(api)["id"])
    response = api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {
        "vip_subnet_id": api.subnet_id, "project_id": "p1", "flavor_id": flavor["id"],
        "provider": "noop"}})
    assert_fault(response, 400, f"Flavor '{flavor['id']}' is not compatible with provider 'noop'")
    # The octavia alias is the amphora provider.
    api.create_lb(flavor_id=flavor["id"], provider="octavia")


def test_noop_flavor_picks_the_noop_provider(api: Api) -> None:
    flavor = create_flavor(api, create_profile(api, {"x": 1}, provider="noop")["id"])
    assert api.create_lb(flavor_id=flavor["id"])["provider"] == "noop"


def test_active_standby_flavor_is_accepted(api: Api) -> None:
    from portus.db import models as m
    flavor = create_flavor(api, create_profile(
        api, {"loadbalancer_topology": "ACTIVE_STANDBY"})["id"])
    lb = api.create_lb(flavor_id=flavor["id"])
    with api.db.read() as session:
        row = session.get(m.LoadBalancer, lb["id"])
        assert row is not None and row.topology == C.TOPOLOGY_ACTIVE_STANDBY


def test_operator_default_topology(api: Api) -> None:
    """[controller] loadbalancer_topology applies where the flavor does not choose."""
    from portus.db import models as m
    single = create_flavor(api, create_profile(
        api, {"loadbalancer_topology": "SINGLE"})["id"])
    api.cfg.controller.loadbalancer_topology = C.TOPOLOGY_ACTIVE_STANDBY
    try:
        plain, chosen = api.create_lb(), api.create_lb(flavor_id=single["id"])
    finally:
        api.cfg.controller.loadbalancer_topology = C.TOPOLOGY_SINGLE
    with api.db.read() as session:
        assert session.get(m.LoadBalancer, plain["id"]).topology == (  # type: ignore[union-attr]
            C.TOPOLOGY_ACTIVE_STANDBY)
        assert session.get(m.LoadBalancer, chosen["id"]).topology == (  # type: ignore[union-attr]
            C.TOPOLOGY_SINGLE)


def test_sriov_vip_is_not_implemented(api: Api) -> None:
    sriov = create_flavor(api, create_profile(api, {"sriov_vip": True}, name="s")["id"],
                          name="s")
    response = api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {
        "vip_subnet_id": api.subnet_id, "project_id": "p1", "flavor_id": sriov["id"]}})
    assert_fault(response, 501, "SR-IOV")
    assert api.expect("GET", "/v2/lbaas/loadbalancers", 200)["loadbalancers"] == []


def test_topology_comes_from_the_flavor(api: Api, compute_flavors: Any) -> None:
    from portus.db import models as m
    flavor = create_flavor(api, create_profile(
        api, {"loadbalancer_topology": "SINGLE", "compute_flavor": "small"})["id"])
    lb = api.create_lb(flavor_id=flavor["id"])
    with api.db.read() as session:
        row = session.get(m.LoadBalancer, lb["id"])
        assert row is not None and row.topology == C.TOPOLOGY_SINGLE


def test_member_sriov_needs_the_flavor_and_a_data_plane_with_virtual_functions(api: Api) -> None:
    from tests.functional.conftest import dump
    allowing = create_flavor(api, create_profile(api, {"allow_member_sriov": True})["id"])
    lb = api.create_lb(flavor_id=allowing["id"])
    pool = api.create_pool(loadbalancer_id=lb["id"])
    path = f"/v2/lbaas/pools/{pool['id']}/members"
    before = dump(api.db)
    body = {"address": "192.0.2.1", "protocol_port": 80, "request_sriov": True}
    assert_fault(api.post(path, json={"member": body}), 501, "SR-IOV")
    assert dump(api.db) == before
    plain = api.create_member(pool["id"], request_sriov=False)
    assert plain["vnic_type"] == "normal"
