"""/v2/lbaas/l7policies, L7 in the fully populated create, the status tree and pools."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.functional.conftest import Api, assert_fault, dump, row_counts

POLICIES = "/v2/lbaas/l7policies"
POLICY_KEYS = {
    "id", "name", "description", "provisioning_status", "operating_status", "admin_state_up",
    "project_id", "tenant_id", "created_at", "updated_at", "tags", "listener_id", "action",
    "position", "redirect_pool_id", "redirect_url", "redirect_prefix", "redirect_http_code",
    "rules"}
PATH_RULE = {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"}


def post(api: Api, **fields: Any) -> Any:
    return api.post(POLICIES, json={"l7policy": fields})


def create(api: Api, listener_id: str, settle: bool = True, **fields: Any) -> dict[str, Any]:
    body = {"listener_id": listener_id, "action": "REJECT", **fields}
    out = api.expect("POST", POLICIES, 201, {"l7policy": body})["l7policy"]
    if settle:
        api.settle()
    return out  # type: ignore[no-any-return]


def show(api: Api, policy_id: str) -> dict[str, Any]:
    return api.expect("GET", f"{POLICIES}/{policy_id}", 200)["l7policy"]  # type: ignore[no-any-return]


def positions(api: Api, listener_id: str) -> list[tuple[str, int]]:
    policies = api.expect("GET", f"{POLICIES}?listener_id={listener_id}&sort=position", 200)
    return [(p["name"], p["position"]) for p in policies["l7policies"]]


@pytest.fixture
def tree(api: Api) -> dict[str, str]:
    ids = api.tree(hm=False)
    ids["other"] = api.create_pool(loadbalancer_id=ids["lb"], name="other")["id"]
    return ids


# --- create ------------------------------------------------------------------------

def test_create_reject_with_defaults(api: Api, tree: dict[str, str]) -> None:
    api.woken.clear()
    response = post(api, listener_id=tree["listener"], action="REJECT")
    assert response.status_code == 201, response.text
    policy = response.json()["l7policy"]
    assert set(policy) == POLICY_KEYS
    assert policy["action"] == "REJECT" and policy["position"] == 1
    assert policy["name"] == "" and policy["description"] == ""
    assert policy["admin_state_up"] is True and policy["tags"] == []
    assert policy["project_id"] == "p1" == policy["tenant_id"]
    assert policy["redirect_pool_id"] is None and policy["redirect_url"] is None
    assert policy["redirect_prefix"] is None and policy["redirect_http_code"] is None
    assert policy["rules"] == []
    assert policy["provisioning_status"] == "PENDING_CREATE"
    assert policy["operating_status"] == "OFFLINE"
    assert api.woken == [tree["lb"]]
    assert api.lb_status(tree["lb"]) == "PENDING_UPDATE"
    assert api.show("listener", tree["listener"])["provisioning_status"] == "PENDING_UPDATE"
    api.converge(tree["lb"])
    shown = show(api, policy["id"])
    assert shown["provisioning_status"] == "ACTIVE" and shown["operating_status"] == "ONLINE"
    assert api.show("listener", tree["listener"])["l7policies"] == [{"id": policy["id"]}]


def test_create_with_rules_and_every_action(api: Api, tree: dict[str, str]) -> None:
    url = create(api, tree["listener"], action="REDIRECT_TO_URL",
                 redirect_url="https://example.com/x", rules=[PATH_RULE])
    assert url["redirect_url"] == "https://example.com/x" and url["redirect_http_code"] == 302
    assert len(url["rules"]) == 1
    rule = api.expect("GET", f"{POLICIES}/{url['id']}/rules/{url['rules'][0]['id']}", 200)
    assert rule["rule"]["value"] == "/api"
    prefix = create(api, tree["listener"], action="REDIRECT_PREFIX",
                    redirect_prefix="http://example.org", redirect_http_code=308)
    assert prefix["redirect_prefix"] == "http://example.org"
    assert prefix["redirect_http_code"] == 308
    pool = create(api, tree["listener"], action="REDIRECT_TO_POOL",
                  redirect_pool_id=tree["other"], redirect_http_code=301)
    assert pool["redirect_pool_id"] == tree["other"]
    assert pool["redirect_http_code"] is None  # irrelevant fields are nulled
    assert [p for _, p in positions(api, tree["listener"])] == [1, 2, 3]


@pytest.mark.parametrize("fields, action", [
    ({"redirect_url": "http://a.example"}, "REDIRECT_TO_URL"),
    ({"redirect_prefix": "http://a.example"}, "REDIRECT_PREFIX"),
])
def test_redirect_field_wins_on_put(api: Api, tree: dict[str, str], fields: dict[str, Any],
                                    action: str) -> None:
    policy = create(api, tree["listener"])
    out = api.expect("PUT", f"{POLICIES}/{policy['id']}", 200, {"l7policy": fields})
    assert out["l7policy"]["action"] == action
    assert out["l7policy"]["redirect_http_code"] == 302


def test_pool_on_put_infers_redirect_to_pool(api: Api, tree: dict[str, str]) -> None:
    policy = create(api, tree["listener"], action="REDIRECT_TO_URL",
                    redirect_url="http://a.example")
    out = api.expect("PUT", f"{POLICIES}/{policy['id']}", 200,
                     {"l7policy": {"redirect_pool_id": tree["other"]}})["l7policy"]
    assert out["action"] == "REDIRECT_TO_POOL" and out["redirect_pool_id"] == tree["other"]
    assert out["redirect_url"] is None and out["redirect_http_code"] is None


def test_reject_nulls_redirect_fields(api: Api, tree: dict[str, str]) -> None:
    policy = create(api, tree["listener"], action="REJECT", redirect_url="http://a.example")
    assert policy["redirect_url"] is None and policy["action"] == "REJECT"


@pytest.mark.parametrize("fields, field", [
    ({"action": "DROP"}, "action"),
    ({"action": None}, "action"),
    ({"listener_id": "nope"}, "listener_id"),
    ({"action": "REDIRECT_TO_URL"}, "redirect_url"),
    ({"action": "REDIRECT_PREFIX"}, "redirect_prefix"),
    ({"action": "REDIRECT_TO_POOL"}, "redirect_pool_id"),
    ({"action": "REDIRECT_TO_URL", "redirect_url": "ftp://a.example"}, "redirect_url"),
    ({"action": "REDIRECT_TO_URL", "redirect_url": "/relative"}, "redirect_url"),
    ({"action": "REDIRECT_TO_URL", "redirect_url": "http://a b"}, "redirect_url"),
    ({"action": "REDIRECT_TO_URL", "redirect_url": "http://a\r\nX: y"}, "redirect_url"),
    ({"action": "REDIRECT_TO_URL", "redirect_url": "http://" + "a" * 2048}, "redirect_url"),
    ({"action": "REDIRECT_PREFIX", "redirect_prefix": "https://"}, "redirect_prefix"),
    ({"action": "REDIRECT_TO_URL", "redirect_url": "http://a.example",
      "redirect_http_code": 304}, "redirect_http_code"),
    ({"redirect_http_code": "302.0"}, "redirect_http_code"),
    ({"position": 0}, "position"),
    ({"position": 2**31}, "position"),
    ({"position": "1.5"}, "position"),
    ({"admin_state_up": "Yes"}, "admin_state_up"),
    ({"name": "n" * 256}, "name"),
    ({"tags": ["a", "a"]}, "tags"),
    ({"redirect_pool_id": "x"}, "redirect_pool_id"),
    ({"redirect_pool": {"name": "other"}}, "redirect_pool"),
    ({"rules": [{"type": "PATH"}]}, "compare_type"),
    ({"rules": [dict(PATH_RULE, compare_type="REGEX", value="(")]}, "rules.0.value"),
    ({"colour": "red"}, "colour"),
])
def test_invalid_field_is_400_naming_it(api: Api, tree: dict[str, str], fields: dict[str, Any],
                                        field: str) -> None:
    before = dump(api.db)
    body = {"listener_id": tree["listener"], "action": "REJECT", **fields}
    assert_fault(post(api, **body), 400, field)
    assert dump(api.db) == before


def test_pool_with_url_is_400(api: Api, tree: dict[str, str]) -> None:
    assert_fault(post(api, listener_id=tree["listener"], action="REDIRECT_TO_POOL",
                      redirect_pool_id=tree["other"], redirect_url="http://a.example"), 400,
                 "redirect_pool_id")
    assert_fault(post(api, listener_id=tree["listener"], action="REDIRECT_TO_URL",
                      redirect_prefix="http://a.example", redirect_url="http://a.example"), 400,
                 "redirect_url")


def test_redirect_pool_must_be_on_the_lb_and_compatible(api: Api, tree: dict[str, str]) -> None:
    other_lb = api.create_lb()
    foreign = api.create_pool(loadbalancer_id=other_lb["id"])
    before = dump(api.db)
    assert_fault(post(api, listener_id=tree["listener"], action="REDIRECT_TO_POOL",
                      redirect_pool_id=foreign["id"]), 404, f"Pool {foreign['id']} not found.")
    missing = str(uuid.uuid4())
    assert_fault(post(api, listener_id=tree["listener"], action="REDIRECT_TO_POOL",
                      redirect_pool_id=missing), 404, f"Pool {missing} not found.")
    assert dump(api.db) == before
    tcp = api.create_pool(loadbalancer_id=tree["lb"], protocol="TCP")
    assert_fault(post(api, listener_id=tree["listener"], action="REDIRECT_TO_POOL",
                      redirect_pool_id=tcp["id"]), 400, "TCP")


def test_tcp_listener_is_501(api: Api, tree: dict[str, str]) -> None:
    tcp = api.create_listener(tree["lb"], protocol="TCP", protocol_port=81)
    assert_fault(post(api, listener_id=tcp["id"], action="REJECT"), 501,
                 "HTTP and TERMINATED_HTTPS")


def test_https_listener_is_501(api: Api, tree: dict[str, str]) -> None:
    https = api.create_listener(tree["lb"], protocol="HTTPS", protocol_port=443)
    assert_fault(post(api, listener_id=https["id"], action="REJECT"), 501,
                 "HTTP and TERMINATED_HTTPS", "HTTPS")


def test_unknown_listener_is_404(api: Api) -> None:
    missing = str(uuid.uuid4())
    assert_fault(post(api, listener_id=missing, action="REJECT"), 404,
                 f"Listener {missing} not found.")
    assert row_counts(api.db)["l7policy"] == 0


def test_too_many_rules_is_409(api: Api, tree: dict[str, str]) -> None:
    assert_fault(post(api, listener_id=tree["listener"], action="REJECT",
                      rules=[PATH_RULE] * 51), 409, "Too many rules")
    policy = create(api, tree["listener"], rules=[PATH_RULE] * 50)
    assert len(policy["rules"]) == 50


def test_409_while_pending(api: Api, tree: dict[str, str]) -> None:
    create(api, tree["listener"], settle=False)
    assert_fault(post(api, listener_id=tree["listener"], action="REJECT"), 409,
                 "PENDING_UPDATE")


# --- positions ---------------------------------------------------------------------

def test_positions_are_contiguous_and_renumbered(api: Api, tree: dict[str, str]) -> None:
    li = tree["listener"]
    a = create(api, li, name="a")
    create(api, li, name="b", position=1)
    create(api, li, name="c", position=1000)  # past the end: appended as 3
    assert positions(api, li) == [("b", 1), ("a", 2), ("c", 3)]
    create(api, li, name="d", position=2)
    assert positions(api, li) == [("b", 1), ("d", 2), ("a", 3), ("c", 4)]
    api.expect("PUT", f"{POLICIES}/{a['id']}", 200, {"l7policy": {"position": 1}})
    api.settle()
    assert positions(api, li) == [("a", 1), ("b", 2), ("d", 3), ("c", 4)]
    api.expect("PUT", f"{POLICIES}/{a['id']}", 200, {"l7policy": {"position": 99}})
    api.settle()
    assert positions(api, li) == [("b", 1), ("d", 2), ("c", 3), ("a", 4)]
    b = [p for p in api.expect("GET", POLICIES, 200)["l7policies"] if p["name"] == "b"][0]
    api.expect("DELETE", f"{POLICIES}/{b['id']}", 204)
    api.settle()
    assert positions(api, li) == [("d", 1), ("c", 2), ("a", 3)]
    listener = api.show("listener", li)
    assert [p["id"] for p in listener["l7policies"]] == [
        p["id"] for p in api.expect("GET", f"{POLICIES}?sort=position", 200)["l7policies"]]


# --- read, update, delete ----------------------------------------------------------

def test_show_list_and_404(api: Api, tree: dict[str, str]) -> None:
    policy = create(api, tree["listener"], name="p", tags=["t"])
    listed = api.expect("GET", POLICIES, 200)
    assert [p["id"] for p in listed["l7policies"]] == [policy["id"]]
    assert listed["l7policies_links"] == []
    assert api.expect("GET", f"{POLICIES}?name=p", 200)["l7policies"][0]["tags"] == ["t"]
    assert api.expect("GET", f"{POLICIES}?action=REDIRECT_TO_URL", 200)["l7policies"] == []
    shown = api.expect("GET", f"{POLICIES}/{policy['id']}?fields=id&fields=action", 200)
    assert shown == {"l7policy": {"id": policy["id"], "action": "REJECT"}}
    missing = str(uuid.uuid4())
    for method in ("GET", "PUT", "DELETE"):
        body = {"l7policy": {"name": "x"}} if method == "PUT" else None
        assert_fault(api.request(method, f"{POLICIES}/{missing}", json=body), 404, missing)


def test_update(api: Api, tree: dict[str, str]) -> None:
    policy = create(api, tree["listener"], name="p", description="d")
    api.woken.clear()
    out = api.expect("PUT", f"{POLICIES}/{policy['id']}", 200, {"l7policy": {
        "name": None, "admin_state_up": False, "tags": ["x"], "action": "REDIRECT_TO_POOL",
        "redirect_pool_id": tree["other"]}})["l7policy"]
    assert out["name"] == "" and out["description"] == "d" and out["admin_state_up"] is False
    assert out["action"] == "REDIRECT_TO_POOL" and out["tags"] == ["x"]
    assert out["provisioning_status"] == "PENDING_UPDATE"
    assert api.woken == [tree["lb"]]
    assert api.show("listener", tree["listener"])["provisioning_status"] == "PENDING_UPDATE"
    api.converge(tree["lb"])
    assert show(api, policy["id"])["operating_status"] == "OFFLINE"  # disabled


@pytest.mark.parametrize("fields, field", [
    ({"action": None}, "action"),
    ({"action": "REDIRECT_TO_URL"}, "redirect_url"),
    ({"redirect_url": "mailto:x@y"}, "redirect_url"),
    ({"listener_id": "3b0d7c4b-0000-4000-8000-000000000000"}, "listener_id"),
    ({"position": -1}, "position"),
])
def test_update_invalid_is_400(api: Api, tree: dict[str, str], fields: dict[str, Any],
                               field: str) -> None:
    policy = create(api, tree["listener"])
    before = dump(api.db)
    assert_fault(api.put(f"{POLICIES}/{policy['id']}", json={"l7policy": fields}), 400, field)
    assert dump(api.db) == before


def test_update_unknown_redirect_pool_is_404(api: Api, tree: dict[str, str]) -> None:
    policy = create(api, tree["listener"])
    before = dump(api.db)
    missing = "3b0d7c4b-0000-4000-8000-000000000000"
    assert_fault(api.put(f"{POLICIES}/{policy['id']}", json={"l7policy": {
        "redirect_pool_id": missing}}), 404, f"Pool {missing} not found.")
    assert dump(api.db) == before


def test_delete(api: Api, tree: dict[str, str]) -> None:
    policy = create(api, tree["listener"], rules=[PATH_RULE])
    api.expect("DELETE", f"{POLICIES}/{policy['id']}", 204)
    assert show(api, policy["id"])["provisioning_status"] == "PENDING_DELETE"
    assert_fault(api.delete(f"{POLICIES}/{policy['id']}"), 409)
    api.converge(tree["lb"])
    assert_fault(api.get(f"{POLICIES}/{policy['id']}"), 404)
    assert row_counts(api.db)["l7rule"] == 0
    assert api.show("listener", tree["listener"])["l7policies"] == []


def test_deleting_the_listener_removes_its_policies(api: Api, tree: dict[str, str]) -> None:
    create(api, tree["listener"], rules=[PATH_RULE])
    api.expect("DELETE", f"/v2/lbaas/listeners/{tree['listener']}", 204)
    api.converge(tree["lb"])
    counts = row_counts(api.db)
    assert counts["l7policy"] == 0 and counts["l7rule"] == 0


def test_pool_used_by_a_policy_cannot_be_deleted(api: Api, tree: dict[str, str]) -> None:
    policy = create(api, tree["listener"], action="REDIRECT_TO_POOL",
                    redirect_pool_id=tree["other"])
    assert_fault(api.delete(f"/v2/lbaas/pools/{tree['other']}"), 409, policy["id"])
    api.expect("DELETE", f"{POLICIES}/{policy['id']}", 204)
    api.converge(tree["lb"])
    api.expect("DELETE", f"/v2/lbaas/pools/{tree['other']}", 204)


def test_cascade_delete_removes_l7(api: Api, tree: dict[str, str]) -> None:
    create(api, tree["listener"], action="REDIRECT_TO_POOL", redirect_pool_id=tree["other"],
           rules=[PATH_RULE])
    api.expect("DELETE", f"/v2/lbaas/loadbalancers/{tree['lb']}?cascade=true", 204)
    api.converge(tree["lb"])
    counts = row_counts(api.db)
    assert counts["l7policy"] == 0 and counts["l7rule"] == 0 and counts["pool"] == 0


# --- fully populated create, listener create, status tree --------------------------

def _graph(api: Api) -> dict[str, Any]:
    pool = {"name": "a", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
            "members": [{"address": "192.0.2.10", "protocol_port": 8080}]}
    listener = {"name": "web", "protocol": "HTTP", "protocol_port": 80,
                "default_pool": {"name": "a"},
                "l7policies": [
                    {"name": "api", "action": "REDIRECT_TO_POOL", "redirect_pool": {"name": "b"},
                     "rules": [PATH_RULE, {"type": "HEADER", "key": "X-Env",
                                           "compare_type": "EQUAL_TO", "value": "prod"}]},
                    {"name": "deny", "action": "REJECT", "position": 1,
                     "rules": [dict(PATH_RULE, value="/admin")]},
                    {"name": "norules", "action": "REDIRECT_TO_POOL",
                     "redirect_pool": {"name": "c", "protocol": "HTTP",
                                       "lb_algorithm": "ROUND_ROBIN"}}]}
    return api.create_lb(name="lb", listeners=[listener], pools=[
        pool, dict(pool, name="b", members=[{"address": "192.0.2.11", "protocol_port": 8080}])])


def test_fully_populated_create_with_l7(api: Api) -> None:
    lb = _graph(api)
    assert {p["name"] for p in lb["pools"]} == {"a", "b", "c"}
    listener = lb["listeners"][0]
    assert len(listener["l7policies"]) == 3
    by_name = {p["name"]: p for p in api.expect("GET", POLICIES, 200)["l7policies"]}
    pools = {p["name"]: p["id"] for p in lb["pools"]}
    assert by_name["deny"]["position"] == 1 and by_name["api"]["position"] == 2
    assert by_name["norules"]["position"] == 3
    assert by_name["api"]["redirect_pool_id"] == pools["b"]
    assert by_name["norules"]["redirect_pool_id"] == pools["c"]
    assert len(by_name["api"]["rules"]) == 2
    assert all(p["provisioning_status"] == "ACTIVE" for p in by_name.values())

    tree = api.expect("GET", f"/v2/lbaas/loadbalancers/{lb['id']}/status", 200)
    status_pools = tree["statuses"]["loadbalancer"]["listeners"][0]["pools"]
    # The default pool, then redirect pools of enabled policies that have rules.
    assert [p["name"] for p in status_pools] == ["a", "b"]
    assert status_pools[1]["members"][0]["address"] == "192.0.2.11"


def test_status_tree_skips_disabled_policies(api: Api) -> None:
    lb = _graph(api)
    api_policy = [p for p in api.expect("GET", POLICIES, 200)["l7policies"]
                  if p["name"] == "api"][0]
    api.expect("PUT", f"{POLICIES}/{api_policy['id']}", 200,
               {"l7policy": {"admin_state_up": False}})
    api.converge(lb["id"])
    tree = api.expect("GET", f"/v2/lbaas/loadbalancers/{lb['id']}/status", 200)
    assert [p["name"] for p in tree["statuses"]["loadbalancer"]["listeners"][0]["pools"]] == ["a"]


@pytest.mark.parametrize("policy, field, code", [
    ({"action": "REDIRECT_TO_POOL", "redirect_pool": {"name": "nope"}}, "redirect_pool.name", 400),
    ({"action": "REDIRECT_TO_POOL", "redirect_pool_id": str(uuid.uuid4())},
     "redirect_pool_id", 400),
    ({"action": "REDIRECT_TO_POOL"}, "l7policies.0.redirect_pool_id", 400),
    ({"action": "REJECT", "rules": [{"type": "HEADER", "compare_type": "EQUAL_TO",
                                     "value": "x"}]}, "l7policies.0.rules.0.key", 400),
])
def test_fully_populated_create_errors(api: Api, policy: dict[str, Any], field: str,
                                       code: int) -> None:
    listener = {"protocol": "HTTP", "protocol_port": 80, "l7policies": [policy]}
    body = {"vip_subnet_id": api.subnet_id, "project_id": "p1", "listeners": [listener]}
    before = row_counts(api.db)
    assert_fault(api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body}), code, field)
    assert row_counts(api.db) == before


def test_fully_populated_create_on_tcp_listener_is_501(api: Api) -> None:
    listener = {"protocol": "TCP", "protocol_port": 80, "l7policies": [{"action": "REJECT"}]}
    body = {"vip_subnet_id": api.subnet_id, "project_id": "p1", "listeners": [listener]}
    assert_fault(api.post("/v2/lbaas/loadbalancers", json={"loadbalancer": body}), 501)


def test_listener_create_with_policies(api: Api, tree: dict[str, str]) -> None:
    li = api.create_listener(tree["lb"], protocol_port=81, l7policies=[
        {"action": "REDIRECT_TO_POOL", "redirect_pool_id": tree["other"], "rules": [PATH_RULE]},
        {"action": "REJECT"}])
    assert len(li["l7policies"]) == 2
    policies = api.expect("GET", f"{POLICIES}?listener_id={li['id']}&sort=position", 200)
    assert [p["action"] for p in policies["l7policies"]] == ["REDIRECT_TO_POOL", "REJECT"]


def test_changing_a_redirect_pool_marks_its_listener(api: Api, tree: dict[str, str]) -> None:
    create(api, tree["listener"], action="REDIRECT_TO_POOL", redirect_pool_id=tree["other"],
           rules=[PATH_RULE])
    api.create_member(tree["other"], settle=False)
    assert api.show("listener", tree["listener"])["provisioning_status"] == "PENDING_UPDATE"
