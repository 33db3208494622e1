"""PUT /v2/lbaas/pools/{pool_id}/members: batch update."""
from __future__ import annotations

from typing import Any

from portus.common import constants as C

from tests.functional.conftest import Api, assert_fault, dump


def path(pool_id: str) -> str:
    return f"/v2/lbaas/pools/{pool_id}/members"


def members(api: Api, pool_id: str) -> dict[tuple[str, int], dict[str, Any]]:
    return {(mb["address"], mb["protocol_port"]): mb
            for mb in api.expect("GET", path(pool_id), 200)["members"]}


def test_create_update_delete_in_one_go(api: Api) -> None:
    ids = api.tree(members=2, hm=False)  # 192.0.2.10 and .11 on 8080
    api.woken.clear()
    body = {"members": [
        {"address": "192.0.2.10", "protocol_port": 8080, "weight": 7, "name": "kept"},
        {"address": "192.0.2.50", "protocol_port": 80, "tags": ["new"]}]}
    r = api.put(path(ids["pool"]), json=body)
    assert r.status_code == 202 and not r.content, r.text
    now = members(api, ids["pool"])
    assert now[("192.0.2.10", 8080)]["weight"] == 7
    assert now[("192.0.2.10", 8080)]["provisioning_status"] == C.PENDING_UPDATE
    assert now[("192.0.2.50", 80)]["provisioning_status"] == C.PENDING_CREATE
    assert now[("192.0.2.50", 80)]["tags"] == ["new"]
    assert now[("192.0.2.11", 8080)]["provisioning_status"] == C.PENDING_DELETE
    assert api.lb_status(ids["lb"]) == C.PENDING_UPDATE
    assert api.woken == [ids["lb"]]
    api.converge(ids["lb"])
    assert set(members(api, ids["pool"])) == {("192.0.2.10", 8080), ("192.0.2.50", 80)}


def test_additive_only_keeps_the_others(api: Api) -> None:
    ids = api.tree(members=2, hm=False)
    r = api.put(path(ids["pool"]) + "?additive_only=true",
                json={"members": [{"address": "192.0.2.60", "protocol_port": 80}]})
    assert r.status_code == 202
    api.converge(ids["lb"])
    assert len(members(api, ids["pool"])) == 3


def test_empty_diff_is_a_no_op(api: Api) -> None:
    ids = api.tree(members=1, hm=False)
    api.woken.clear()
    before = dump(api.db)
    r = api.put(path(ids["pool"]), json={"members": [
        {"address": "192.0.2.10", "protocol_port": 8080}]})
    assert r.status_code == 202
    assert dump(api.db) == before and api.woken == []


def test_omitted_fields_go_back_to_their_defaults(api: Api) -> None:
    ids = api.tree(members=0, hm=False)
    key = ("192.0.2.30", 80)
    first = {"address": key[0], "protocol_port": key[1], "weight": 5, "admin_state_up": False,
             "backup": True, "name": "n", "monitor_port": 9000, "tags": ["t"]}
    assert api.put(path(ids["pool"]), json={"members": [first]}).status_code == 202
    api.converge(ids["lb"])
    assert members(api, ids["pool"])[key]["weight"] == 5
    r = api.put(path(ids["pool"]), json={"members": [
        {"address": key[0], "protocol_port": key[1]}]})
    assert r.status_code == 202
    member = members(api, ids["pool"])[key]
    assert (member["weight"], member["admin_state_up"], member["backup"]) == (1, True, False)
    assert member["provisioning_status"] == C.PENDING_UPDATE
    # Fields without a default are left as they were, as in Octavia.
    assert (member["name"], member["monitor_port"], member["tags"]) == ("n", 9000, ["t"])


def test_empty_list_deletes_everything(api: Api) -> None:
    ids = api.tree(members=2, hm=False)
    assert api.put(path(ids["pool"]), json={"members": []}).status_code == 202
    api.converge(ids["lb"])
    assert members(api, ids["pool"]) == {}


def test_duplicate_key_is_refused(api: Api) -> None:
    ids = api.tree(members=0, hm=False)
    before = dump(api.db)
    r = api.put(path(ids["pool"]), json={"members": [
        {"address": "192.0.2.70", "protocol_port": 80},
        {"address": "192.0.2.70", "protocol_port": 80, "weight": 2}]})
    assert_fault(r, 400, "Duplicate")
    assert dump(api.db) == before


def test_refused_while_pending_in_strict_mode_and_unknown_pool(api: Api) -> None:
    ids = api.tree(members=0, hm=False)
    api.create_member(ids["pool"], settle=False)
    r = api.put(path(ids["pool"]), json={"members": [{"address": "192.0.2.80",
                                                      "protocol_port": 80}]})
    assert_fault(r, 409, "PENDING_UPDATE")
    r = api.put(path("6b1a3a8e-0c5e-4a53-9f0e-0d5d0d5d0d5d"), json={"members": []})
    assert_fault(r, 404)
    assert_fault(api.put(path(ids["pool"]), json={"member": []}), 400)
