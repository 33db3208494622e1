"""/v2/lbaas/availabilityzones (keyed by name), and load balancers in a zone."""
from __future__ import annotations

from typing import Any

import pytest

from tests.functional.conftest import Api, assert_fault
from tests.functional.test_availabilityzoneprofiles import NIL, create_az, create_az_profile

AZ = "/v2/lbaas/availabilityzones"


def test_create_show_list(api: Api) -> None:
    azp = create_az_profile(api)
    az = create_az(api, azp["id"])
    assert az == {"name": "az1", "description": "", "enabled": True,
                  "availability_zone_profile_id": azp["id"]}
    assert api.expect("GET", f"{AZ}/az1", 200) == {"availability_zone": az}
    assert api.expect("GET", AZ, 200) == {"availability_zones": [az],
                                          "availability_zones_links": []}
    create_az(api, azp["id"], name="az2", enabled=False)
    assert [z["name"] for z in api.expect("GET", f"{AZ}?enabled=false", 200)[
        "availability_zones"]] == ["az2"]
    page = api.expect("GET", f"{AZ}?limit=1", 200)
    assert [z["name"] for z in page["availability_zones"]] == ["az1"]
    nxt = page["availability_zones_links"][0]["href"]
    assert "marker=az1" in nxt
    assert [z["name"] for z in api.expect("GET", f"{AZ}?limit=1&marker=az1", 200)[
        "availability_zones"]] == ["az2"]


def test_name_is_the_key(api: Api) -> None:
    azp = create_az_profile(api)
    create_az(api, azp["id"])
    assert_fault(api.post(AZ, json={"availability_zone": {
        "name": "az1", "availability_zone_profile_id": azp["id"]}}), 409, "already exists")


@pytest.mark.parametrize("body", [
    {"name": "az"},
    {"availability_zone_profile_id": NIL},
    {"name": "az", "availability_zone_profile_id": NIL},
    {"name": "az", "availability_zone_profile_id": "6f1d3c52-1f0e-4c4b-9b3e-7c2d0a9e5a11"},
    {"name": "az", "availability_zone_profile_id": NIL, "bogus": 1},
])
def test_invalid_create_is_400(api: Api, body: dict[str, Any]) -> None:
    assert_fault(api.post(AZ, json={"availability_zone": body}), 400)


def test_update_changes_only_description_and_enabled(api: Api) -> None:
    create_az(api, create_az_profile(api)["id"])
    out = api.expect("PUT", f"{AZ}/az1", 200, {"availability_zone": {
        "description": "d", "enabled": False}})["availability_zone"]
    assert (out["description"], out["enabled"]) == ("d", False)
    for field in ("name", "availability_zone_profile_id"):
        assert_fault(api.put(f"{AZ}/az1", json={"availability_zone": {field: "x"}}), 400, field)


def test_not_found(api: Api) -> None:
    for method in ("GET", "DELETE"):
        assert_fault(api.request(method, f"{AZ}/nowhere"), 404, "nowhere")
        assert_fault(api.request(method, f"{AZ}/{NIL}"), 404)


def test_load_balancer_in_a_zone(api: Api) -> None:
    create_az(api, create_az_profile(api, {"compute_zone": "here"})["id"])
    lb = api.create_lb(availability_zone="az1")
    assert api.show("loadbalancer", lb["id"])["availability_zone"] == "az1"
    assert_fault(api.delete(f"{AZ}/az1"), 409, "is in use")
    api.expect("DELETE", f"/v2/lbaas/loadbalancers/{lb['id']}", 204)
    api.converge(lb["id"])
    api.expect("DELETE", f"{AZ}/az1", 204)


def test_zone_must_exist_and_be_enabled(api: Api) -> None:
    body = {"vip_subnet_id": api.subnet_id, "project_id": "p1"}
    assert_fault(api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": dict(
        body, availability_zone="nowhere")}), 400, "Invalid availability_zone")
    create_az(api, create_az_profile(api)["id"], enabled=False)
    assert_fault(api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": dict(
        body, availability_zone="az1")}), 400, "az1")


def test_valid_vip_networks_of_the_zone(api: Api) -> None:
    network = api.cfg.network.subnets[0].network_id
    create_az(api, create_az_profile(api, {"valid_vip_networks": ["other"]})["id"])
    create_az(api, create_az_profile(api, {"valid_vip_networks": [network]}, name="b")["id"],
              name="az2")
    assert_fault(api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {
        "vip_subnet_id": api.subnet_id, "project_id": "p1", "availability_zone": "az1"}}),
        400, "VIP network_id is not allowed")
    api.create_lb(availability_zone="az2")


def test_zone_provider_must_match(api: Api) -> None:
    create_az(api, create_az_profile(api, provider="noop")["id"])
    assert_fault(api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": {
        "vip_subnet_id": api.subnet_id, "project_id": "p1", "availability_zone": "az1",
        "provider": "amphora"}}), 400, "not compatible")
    assert api.create_lb(availability_zone="az1")["provider"] == "noop"
