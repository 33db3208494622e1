"""Who may use quotas, providers, flavors, availability zones and their profiles
(Octavia's rules: reads of flavors/AZs/providers for readers, the rest admin; quotas
readable by the owning project, writable by admins)."""
from __future__ import annotations

import pytest

from tests.functional.auth_helpers import (  # noqa: F401 (fixtures)
    TokenApi, _token_session, token_api)

READ_FOR_MEMBERS = ["/v2/lbaas/providers", "/v2/lbaas/flavors", "/v2/lbaas/availabilityzones",
                    "/v2/lbaas/quotas/p1", "/v2/lbaas/quotas/p1/default", "/v2/lbaas/quotas"]
ADMIN_ONLY = ["/v2/lbaas/flavorprofiles", "/v2/lbaas/availabilityzoneprofiles",
              "/v2/lbaas/providers/amphora/flavor_capabilities",
              "/v2/lbaas/providers/amphora/availability_zone_capabilities",
              "/v2/lbaas/quotas/p2"]


@pytest.mark.parametrize("path", READ_FOR_MEMBERS + ADMIN_ONLY)
def test_reads(token_api: TokenApi, path: str) -> None:
    assert token_api.get(path, headers=token_api.as_("admin")).status_code == 200
    expected = 200 if path in READ_FOR_MEMBERS else 403
    assert token_api.get(path, headers=token_api.as_("member")).status_code == expected


def test_writes_need_admin(token_api: TokenApi) -> None:
    member = token_api.as_("member")
    body = {"name": "fp", "provider_name": "amphora", "flavor_data": "{}"}
    assert token_api.post("/v2/lbaas/flavorprofiles", json={"flavorprofile": body},
                          headers=member).status_code == 403
    fp = token_api.expect("POST", "/v2/lbaas/flavorprofiles", 201, {"flavorprofile": body})
    flavor = {"name": "f", "flavor_profile_id": fp["flavorprofile"]["id"]}
    assert token_api.post("/v2/lbaas/flavors", json={"flavor": flavor},
                          headers=member).status_code == 403
    assert token_api.put("/v2/lbaas/quotas/p1", json={"quota": {"pool": 1}},
                         headers=member).status_code == 403
    assert token_api.delete("/v2/lbaas/quotas/p1", headers=member).status_code == 403
    token_api.expect("PUT", "/v2/lbaas/quotas/p1", 202, {"quota": {"pool": 1}})
    token_api.expect("PUT", "/v2/lbaas/quotas/p2", 202, {"quota": {"pool": 2}})
    # A member lists only its own project's quota.
    rows = token_api.expect("GET", "/v2/lbaas/quotas", 200, headers=member)["quotas"]
    assert [q["project_id"] for q in rows] == ["p1"]
    assert len(token_api.expect("GET", "/v2/lbaas/quotas", 200)["quotas"]) == 2
