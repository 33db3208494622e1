"""/v2/lbaas/flavorprofiles: provider-validated flavor metadata."""
from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from portus.common.config import ComputeFlavorConfig

from tests.functional.conftest import Api, assert_fault

FP = "/v2/lbaas/flavorprofiles"
NIL = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def compute_flavors(api: Api) -> Iterator[dict[str, ComputeFlavorConfig]]:
    flavors = api.cfg.amphora.compute_flavors
    flavors["small"] = ComputeFlavorConfig(maxconn=1000)
    api.cfg.amphora.images["portus"] = "/usr/sbin/haproxy"
    yield flavors
    flavors.clear()
    api.cfg.amphora.images.clear()


def create_profile(api: Api, data: Any = None, provider: str = "amphora",
                   name: str = "fp") -> dict[str, Any]:
    text = data if isinstance(data, str) else json.dumps(data or {})
    body = {"name": name, "provider_name": provider, "flavor_data": text}
    return api.expect("POST", FP, 201, {"flavorprofile": body})["flavorprofile"]  # type: ignore[no-any-return]


def create_flavor(api: Api, profile_id: str, name: str = "f", **fields: Any) -> dict[str, Any]:
    body = {"name": name, "flavor_profile_id": profile_id, **fields}
    return api.expect("POST", "/v2/lbaas/flavors", 201, {"flavor": body})["flavor"]  # type: ignore[no-any-return]


def test_create_show_list(api: Api, compute_flavors: Any) -> None:
    data = {"loadbalancer_topology": "SINGLE", "compute_flavor": "small",
            "amp_image_tag": "portus", "sriov_vip": False, "allow_member_sriov": False}
    fp = create_profile(api, data)
    assert set(fp) == {"id", "name", "provider_name", "flavor_data"}
    assert (fp["name"], fp["provider_name"], json.loads(fp["flavor_data"])) == (
        "fp", "amphora", data)
    assert api.expect("GET", f"{FP}/{fp['id']}", 200) == {"flavorprofile": fp}
    body = api.expect("GET", FP, 200)
    assert body == {"flavorprofiles": [fp], "flavorprofile_links": []}
    shown = api.expect("GET", f"{FP}/{fp['id']}?fields=name", 200)["flavorprofile"]
    assert shown == {"name": "fp"}


def test_paging_uses_flavorprofile_links(api: Api) -> None:
    for i in range(3):
        create_profile(api, name=f"fp{i}")
    page = api.expect("GET", f"{FP}?limit=2", 200)
    assert len(page["flavorprofiles"]) == 2
    assert [link["rel"] for link in page["flavorprofile_links"]] == ["next"]
    assert api.expect("GET", f"{FP}?name=fp1", 200)["flavorprofiles"][0]["name"] == "fp1"


@pytest.mark.parametrize("data", ["{not json", "[1, 2]", '"SINGLE"'])
def test_flavor_data_that_is_no_json_object_is_400(api: Api, data: str) -> None:
    response = api.post(FP, json={"flavorprofile": {
        "name": "fp", "provider_name": "amphora", "flavor_data": data}})
    assert_fault(response, 400, "flavor_data")
    assert api.expect("GET", FP, 200)["flavorprofiles"] == []


@pytest.mark.parametrize("data,fragment", [
    ({"bogus": 1}, "bogus"),
    ({"loadbalancer_topology": "X"}, "loadbalancer_topology"),
    ({"loadbalancer_topology": "TRIPLE"}, "loadbalancer_topology"),
    ({"sriov_vip": "yes"}, "sriov_vip"),
    ({"allow_member_sriov": 1}, "allow_member_sriov"),
    ({"amp_image_tag": 5}, "amp_image_tag"),
    ({"compute_flavor": "huge"}, "huge"),
])
def test_flavor_data_the_amphora_provider_refuses_is_501(api: Api, data: Any,
                                                         fragment: str) -> None:
    response = api.post(FP, json={"flavorprofile": {
        "name": "fp", "provider_name": "amphora", "flavor_data": json.dumps(data)}})
    assert_fault(response, 501, "Provider 'amphora' does not support a requested option: ",
                 fragment)
    assert api.expect("GET", FP, 200)["flavorprofiles"] == []


def test_flavor_data_is_at_most_4096_characters(api: Api) -> None:
    long = json.dumps({"amp_image_tag": "x" * 4100})
    assert_fault(api.post(FP, json={"flavorprofile": {
        "name": "fp", "provider_name": "amphora", "flavor_data": long}}), 400, "flavor_data")


@pytest.mark.parametrize("missing", ["name", "provider_name", "flavor_data"])
def test_mandatory_fields(api: Api, missing: str) -> None:
    body = {"name": "fp", "provider_name": "amphora", "flavor_data": "{}"}
    del body[missing]
    assert_fault(api.post(FP, json={"flavorprofile": body}), 400, missing)


def test_provider_must_be_enabled(api: Api) -> None:
    response = api.post(FP, json={"flavorprofile": {
        "name": "fp", "provider_name": "bogus", "flavor_data": "{}"}})
    assert_fault(response, 400, "Provider 'bogus' is not enabled.")


def test_noop_and_octavia_alias(api: Api) -> None:
    assert create_profile(api, {"anything": [1, 2]}, provider="noop")["provider_name"] == "noop"
    assert create_profile(api, {"loadbalancer_topology": "SINGLE"},
                          provider="octavia")["provider_name"] == "octavia"
    assert_fault(api.post(FP, json={"flavorprofile": {
        "name": "fp", "provider_name": "octavia", "flavor_data": '{"x": 1}'}}), 501,
        "Provider 'octavia' does not support a requested option: ", "x")


def test_update(api: Api) -> None:
    fp = create_profile(api)
    out = api.expect("PUT", f"{FP}/{fp['id']}", 200, {"flavorprofile": {
        "name": "renamed", "flavor_data": '{"loadbalancer_topology": "SINGLE"}'}})["flavorprofile"]
    assert (out["name"], json.loads(out["flavor_data"])) == (
        "renamed", {"loadbalancer_topology": "SINGLE"})
    assert api.expect("GET", f"{FP}/{fp['id']}", 200)["flavorprofile"] == out
    # New data is validated by the (new) provider.
    assert_fault(api.put(f"{FP}/{fp['id']}", json={"flavorprofile": {
        "flavor_data": '{"bogus": true}'}}), 501, "bogus")
    assert_fault(api.put(f"{FP}/{fp['id']}", json={"flavorprofile": {
        "provider_name": "nope"}}), 400, "not enabled")
    assert_fault(api.put(f"{FP}/{fp['id']}", json={"flavorprofile": {"name": None}}), 400)
    out = api.expect("PUT", f"{FP}/{fp['id']}", 200, {"flavorprofile": {
        "provider_name": "noop", "flavor_data": '{"free": "form"}'}})["flavorprofile"]
    assert out["provider_name"] == "noop"


def test_profile_in_use_cannot_change_its_data_or_be_deleted(api: Api) -> None:
    fp = create_profile(api)
    create_flavor(api, fp["id"])
    for change in ({"flavor_data": '{"loadbalancer_topology": "SINGLE"}'},
                   {"provider_name": "noop"}):
        assert_fault(api.put(f"{FP}/{fp['id']}", json={"flavorprofile": change}), 409,
                     "is in use")
    # The name may change; so may data that stays the same.
    api.expect("PUT", f"{FP}/{fp['id']}", 200, {"flavorprofile": {
        "name": "other", "flavor_data": "{}"}})
    assert_fault(api.delete(f"{FP}/{fp['id']}"), 409, "is in use")


def test_delete_and_not_found(api: Api) -> None:
    fp = create_profile(api)
    api.expect("DELETE", f"{FP}/{fp['id']}", 204)
    assert_fault(api.get(f"{FP}/{fp['id']}"), 404, fp["id"])
    assert_fault(api.delete(f"{FP}/{fp['id']}"), 404)
    for method in ("GET", "DELETE"):
        assert_fault(api.request(method, f"{FP}/{NIL}"), 404, NIL)
    assert_fault(api.put(f"{FP}/{NIL}", json={"flavorprofile": {"name": "x"}}), 404)
