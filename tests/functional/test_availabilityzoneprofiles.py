"""/v2/lbaas/availabilityzoneprofiles."""
from __future__ import annotations

import json
from typing import Any

import pytest

from tests.functional.conftest import Api, assert_fault

AZP = "/v2/lbaas/availabilityzoneprofiles"
NIL = "00000000-0000-0000-0000-000000000000"


def create_az_profile(api: Api, data: Any = None, provider: str = "amphora",
                      name: str = "azp") -> dict[str, Any]:
    body = {"name": name, "provider_name": provider,
            "availability_zone_data": json.dumps(data or {})}
    out = api.expect("POST", AZP, 201, {"availability_zone_profile": body})
    return out["availability_zone_profile"]  # type: ignore[no-any-return]


def create_az(api: Api, profile_id: str, name: str = "az1", **fields: Any) -> dict[str, Any]:
    body = {"name": name, "availability_zone_profile_id": profile_id, **fields}
    out = api.expect("POST", "/v2/lbaas/availabilityzones", 201, {"availability_zone": body})
    return out["availability_zone"]  # type: ignore[no-any-return]


def test_create_show_list(api: Api) -> None:
    data = {"compute_zone": "nova", "volume_zone": "v", "management_network": "mgmt",
            "valid_vip_networks": ["n1", "n2"]}
    azp = create_az_profile(api, data)
    assert set(azp) == {"id", "name", "provider_name", "availability_zone_data"}
    assert json.loads(azp["availability_zone_data"]) == data
    assert api.expect("GET", f"{AZP}/{azp['id']}", 200) == {"availability_zone_profile": azp}
    body = api.expect("GET", AZP, 200)
    assert body == {"availability_zone_profiles": [azp], "availability_zone_profile_links": []}


@pytest.mark.parametrize("text,fragment", [
    ("nope", "availability_zone_data"),
    ('["a"]', "availability_zone_data"),
    ('{"x": "' + "y" * 4100 + '"}', "availability_zone_data"),
])
def test_invalid_data_is_400(api: Api, text: str, fragment: str) -> None:
    response = api.post(AZP, json={"availability_zone_profile": {
        "name": "azp", "provider_name": "amphora", "availability_zone_data": text}})
    assert_fault(response, 400, fragment)


@pytest.mark.parametrize("text,fragment", [
    ('{"compute_flavor": "x"}', "compute_flavor"),
    ('{"valid_vip_networks": "n1"}', "valid_vip_networks"),
    ('{"valid_vip_networks": [1]}', "valid_vip_networks"),
    ('{"compute_zone": 3}', "compute_zone"),
])
def test_data_the_amphora_provider_refuses_is_501(api: Api, text: str, fragment: str) -> None:
    response = api.post(AZP, json={"availability_zone_profile": {
        "name": "azp", "provider_name": "amphora", "availability_zone_data": text}})
    assert_fault(response, 501, "Provider 'amphora' does not support a requested option: ",
                 fragment)
    assert api.expect("GET", AZP, 200)["availability_zone_profiles"] == []


def test_provider_must_be_enabled_noop_accepts_anything(api: Api) -> None:
    assert_fault(api.post(AZP, json={"availability_zone_profile": {
        "name": "azp", "provider_name": "bogus", "availability_zone_data": "{}"}}), 400,
        "not enabled")
    assert create_az_profile(api, {"free": 1}, provider="noop")["provider_name"] == "noop"


def test_in_use_profile(api: Api) -> None:
    azp = create_az_profile(api)
    create_az(api, azp["id"])
    assert_fault(api.put(f"{AZP}/{azp['id']}", json={"availability_zone_profile": {
        "availability_zone_data": '{"compute_zone": "b"}'}}), 409, "is in use")
    assert_fault(api.delete(f"{AZP}/{azp['id']}"), 409, "is in use")
    out = api.expect("PUT", f"{AZP}/{azp['id']}", 200, {"availability_zone_profile": {
        "name": "renamed"}})
    assert out["availability_zone_profile"]["name"] == "renamed"


def test_update_delete_not_found(api: Api) -> None:
    azp = create_az_profile(api)
    out = api.expect("PUT", f"{AZP}/{azp['id']}", 200, {"availability_zone_profile": {
        "availability_zone_data": '{"compute_zone": "b"}'}})["availability_zone_profile"]
    assert json.loads(out["availability_zone_data"]) == {"compute_zone": "b"}
    api.expect("DELETE", f"{AZP}/{azp['id']}", 204)
    assert_fault(api.get(f"{AZP}/{azp['id']}"), 404)
    assert_fault(api.get(f"{AZP}/{NIL}"), 404, NIL)
