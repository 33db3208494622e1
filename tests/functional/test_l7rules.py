"""/v2/lbaas/l7policies/{policy_id}/rules."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.functional.conftest import Api, assert_fault, dump, fail

POLICIES = "/v2/lbaas/l7policies"
RULE_KEYS = {
    "id", "provisioning_status", "operating_status", "admin_state_up", "project_id",
    "tenant_id", "created_at", "updated_at", "tags", "type", "compare_type", "key", "value",
    "invert"}


@pytest.fixture
def ids(api: Api) -> dict[str, str]:
    tree = api.tree(hm=False)
    policy = api.expect("POST", POLICIES, 201, {"l7policy": {
        "listener_id": tree["listener"], "action": "REJECT"}})["l7policy"]
    api.converge(tree["lb"])
    return dict(tree, policy=policy["id"], rules=f"{POLICIES}/{policy['id']}/rules")


def create(api: Api, ids: dict[str, str], settle: bool = True, **fields: Any) -> dict[str, Any]:
    body = {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api", **fields}
    out = api.expect("POST", ids["rules"], 201, {"rule": body})["rule"]
    if settle:
        api.converge(ids["lb"])
    return out  # type: ignore[no-any-return]


def status_of(api: Api, path: str, key: str) -> str:
    return str(api.expect("GET", path, 200)[key]["provisioning_status"])


def test_create_with_defaults(api: Api, ids: dict[str, str]) -> None:
    api.woken.clear()
    response = api.post(ids["rules"], json={"rule": {
        "type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"}})
    assert response.status_code == 201, response.text
    rule = response.json()["rule"]
    assert set(rule) == RULE_KEYS
    assert rule["key"] is None and rule["invert"] is False and rule["admin_state_up"] is True
    assert rule["project_id"] == "p1" and rule["tags"] == []
    assert rule["provisioning_status"] == "PENDING_CREATE"
    assert api.woken == [ids["lb"]]
    # The load balancer, the listener and the policy go PENDING_UPDATE.
    assert api.lb_status(ids["lb"]) == "PENDING_UPDATE"
    assert api.show("listener", ids["listener"])["provisioning_status"] == "PENDING_UPDATE"
    assert status_of(api, f"{POLICIES}/{ids['policy']}", "l7policy") == "PENDING_UPDATE"
    api.converge(ids["lb"])
    shown = api.expect("GET", f"{ids['rules']}/{rule['id']}", 200)["rule"]
    assert shown["provisioning_status"] == "ACTIVE" and shown["operating_status"] == "ONLINE"
    policy = api.expect("GET", f"{POLICIES}/{ids['policy']}", 200)["l7policy"]
    assert policy["rules"] == [{"id": rule["id"]}]
    assert policy["provisioning_status"] == "ACTIVE"


@pytest.mark.parametrize("fields", [
    {"type": "HOST_NAME", "compare_type": "ENDS_WITH", "value": ".example.com"},
    {"type": "PATH", "compare_type": "REGEX", "value": r"^/api/v[0-9]+/"},
    {"type": "PATH", "compare_type": "CONTAINS", "value": "'c'\\e$f#g,;"},
    # a quoted string may hold spaces (and quotes), as an HTTP header value
    {"type": "PATH", "compare_type": "CONTAINS", "value": "\"a b 'c' \"d\" \\e $f #g\""},
    {"type": "FILE_TYPE", "compare_type": "EQUAL_TO", "value": "jpg"},
    {"type": "FILE_TYPE", "compare_type": "REGEX", "value": r"\.(png|gif)$"},
    {"type": "HEADER", "key": "X-Env", "compare_type": "EQUAL_TO", "value": "\"prod env\""},
    {"type": "COOKIE", "key": "session", "compare_type": "STARTS_WITH", "value": "abc"},
    {"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "true"},
    {"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "0"},
    {"type": "SSL_DN_FIELD", "key": "CN", "compare_type": "EQUAL_TO", "value": "client"},
    {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/x", "invert": True},
])
def test_every_rule_type(api: Api, ids: dict[str, str], fields: dict[str, Any]) -> None:
    rule = create(api, ids, **fields)
    for key, value in fields.items():
        assert rule[key] == value


@pytest.mark.parametrize("fields", [
    {"type": "PATH", "compare_type": "EQUAL_TO", "value": "/a b"},
    {"type": "HOST_NAME", "compare_type": "CONTAINS", "value": "a\tb"},
    {"type": "HEADER", "key": "X-Env", "compare_type": "EQUAL_TO", "value": "prod env"},
    {"type": "FILE_TYPE", "compare_type": "EQUAL_TO", "value": "j pg"},
    {"type": "SSL_DN_FIELD", "key": "CN", "compare_type": "EQUAL_TO", "value": "a \"b\""},
])
def test_values_that_are_not_header_safe_are_400(api: Api, ids: dict[str, str],
                                                 fields: dict[str, Any]) -> None:
    before = dump(api.db)
    assert_fault(api.post(ids["rules"], json={"rule": fields}), 400,
                 "Error parsing L7Rule: Invalid characters in comparison value")
    assert dump(api.db) == before


@pytest.mark.parametrize("fields, field", [
    ({"type": "URL"}, "type"),
    ({"compare_type": "LIKE"}, "compare_type"),
    ({"type": None}, "type"),
    ({"value": None}, "value"),
    ({"value": ""}, "value"),
    ({"value": "v" * 256}, "value"),
    ({"value": "a\r\nb"}, "value"),
    ({"value": "a\nb"}, "value"),
    ({"value": "caf\u00e9"}, "value"),
    ({"compare_type": "REGEX", "value": "(unclosed"}, "value"),
    ({"type": "FILE_TYPE", "compare_type": "STARTS_WITH"}, "compare_type"),
    ({"type": "FILE_TYPE", "compare_type": "CONTAINS"}, "compare_type"),
    ({"type": "HEADER"}, "key"),
    ({"type": "HEADER", "key": "X Bad"}, "key"),
    ({"type": "HEADER", "key": "X$Bad"}, "key"),
    ({"type": "COOKIE"}, "key"),
    ({"type": "COOKIE", "key": "s", "value": "a b"}, "value"),
    ({"type": "COOKIE", "key": "s", "value": "a;b"}, "value"),
    ({"type": "SSL_DN_FIELD"}, "key"),
    ({"type": "SSL_DN_FIELD", "key": "1CN"}, "key"),
    ({"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "yes"}, "value"),
    ({"type": "SSL_CONN_HAS_CERT", "compare_type": "CONTAINS", "value": "true"}, "compare_type"),
    ({"type": "SSL_CONN_HAS_CERT", "compare_type": "EQUAL_TO", "value": "true", "key": "k"},
     "key"),
    ({"type": "SSL_VERIFY_RESULT", "compare_type": "EQUAL_TO", "value": "-1"}, "value"),
    ({"type": "SSL_VERIFY_RESULT", "compare_type": "REGEX", "value": "0"}, "compare_type"),
    ({"key": "k" * 256}, "key"),
    ({"invert": "TRUE"}, "invert"),
    ({"tags": [1]}, "tags"),
    ({"name": "n"}, "name"),
])
def test_invalid_field_is_400_naming_it(api: Api, ids: dict[str, str], fields: dict[str, Any],
                                        field: str) -> None:
    before = dump(api.db)
    body = {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api", **fields}
    assert_fault(api.post(ids["rules"], json={"rule": body}), 400, field)
    assert dump(api.db) == before


def test_more_than_50_rules_is_409(api: Api, ids: dict[str, str]) -> None:
    for i in range(50):
        create(api, ids, settle=True, value=f"/p{i}")
    assert_fault(api.post(ids["rules"], json={"rule": {
        "type": "PATH", "compare_type": "STARTS_WITH", "value": "/x"}}), 409, "Too many rules")


def test_409_while_pending_and_policy_in_error(api: Api, ids: dict[str, str]) -> None:
    rule = create(api, ids, settle=False)
    assert_fault(api.post(ids["rules"], json={"rule": {
        "type": "PATH", "compare_type": "STARTS_WITH", "value": "/x"}}), 409, "PENDING_UPDATE")
    fail(api.db, ids["lb"])
    # The load balancer is in ERROR: its children cannot change...
    assert_fault(api.put(f"{ids['rules']}/{rule['id']}", json={"rule": {"value": "/y"}}), 409)
    # ...until an update retries it.
    api.expect("PUT", f"/v2/lbaas/loadbalancers/{ids['lb']}", 200, {"loadbalancer": {}})
    api.converge(ids["lb"])
    # The policy is still ERROR: rules need it ACTIVE, but can be deleted.
    assert status_of(api, f"{POLICIES}/{ids['policy']}", "l7policy") == "ERROR"
    assert_fault(api.post(ids["rules"], json={"rule": {
        "type": "PATH", "compare_type": "STARTS_WITH", "value": "/x"}}), 409, "l7policy")
    api.expect("DELETE", f"{ids['rules']}/{rule['id']}", 204)


def test_show_list_404(api: Api, ids: dict[str, str]) -> None:
    rule = create(api, ids, tags=["t"])
    listed = api.expect("GET", ids["rules"], 200)
    assert set(listed) == {"rules", "rules_links"}
    assert [r["id"] for r in listed["rules"]] == [rule["id"]]
    assert api.expect("GET", f"{ids['rules']}?type=HEADER", 200)["rules"] == []
    assert api.expect("GET", f"{ids['rules']}/{rule['id']}?fields=value", 200) == {
        "rule": {"value": "/api"}}
    missing = str(uuid.uuid4())
    assert_fault(api.get(f"{ids['rules']}/{missing}"), 404, missing)
    assert_fault(api.get(f"{POLICIES}/{missing}/rules"), 404, missing)
    assert_fault(api.post(f"{POLICIES}/{missing}/rules", json={"rule": {
        "type": "PATH", "compare_type": "STARTS_WITH", "value": "/x"}}), 404, missing)
    # A rule seen through another policy is not found.
    other = api.expect("POST", POLICIES, 201, {"l7policy": {
        "listener_id": ids["listener"], "action": "REJECT"}})["l7policy"]
    api.converge(ids["lb"])
    assert_fault(api.get(f"{POLICIES}/{other['id']}/rules/{rule['id']}"), 404)
    assert_fault(api.delete(f"{POLICIES}/{other['id']}/rules/{rule['id']}"), 404)


def test_update_validates_the_merged_rule(api: Api, ids: dict[str, str]) -> None:
    rule = create(api, ids, type="HEADER", key="X-A", compare_type="CONTAINS", value="v",
                  invert=True)
    path = f"{ids['rules']}/{rule['id']}"
    # FILE_TYPE cannot keep CONTAINS.
    assert_fault(api.put(path, json={"rule": {"type": "FILE_TYPE"}}), 400, "compare_type")
    assert_fault(api.put(path, json={"rule": {"key": None}}), 400, "key")
    assert_fault(api.put(path, json={"rule": {"compare_type": "REGEX", "value": "["}}), 400,
                 "value")
    assert_fault(api.put(path, json={"rule": {"type": None}}), 400, "type")
    out = api.expect("PUT", path, 200, {"rule": {"value": "w", "invert": None,
                                                 "admin_state_up": False}})["rule"]
    assert out["value"] == "w" and out["invert"] is False and out["admin_state_up"] is False
    assert out["provisioning_status"] == "PENDING_UPDATE"
    assert status_of(api, f"{POLICIES}/{ids['policy']}", "l7policy") == "PENDING_UPDATE"
    api.converge(ids["lb"])
    assert api.expect("GET", path, 200)["rule"]["operating_status"] == "OFFLINE"


def test_delete(api: Api, ids: dict[str, str]) -> None:
    rule = create(api, ids)
    path = f"{ids['rules']}/{rule['id']}"
    api.expect("DELETE", path, 204)
    assert status_of(api, path, "rule") == "PENDING_DELETE"
    assert status_of(api, f"{POLICIES}/{ids['policy']}", "l7policy") == "PENDING_UPDATE"
    api.converge(ids["lb"])
    assert_fault(api.get(path), 404)
    assert api.expect("GET", f"{POLICIES}/{ids['policy']}", 200)["l7policy"]["rules"] == []
