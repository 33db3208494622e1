"""/v2/lbaas/healthmonitors."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.functional.conftest import Api, assert_fault, dump, fail, row_counts

HMS = "/v2/lbaas/healthmonitors"
HM_KEYS = {
    "id", "name", "provisioning_status", "operating_status", "admin_state_up", "project_id",
    "tenant_id", "created_at", "updated_at", "tags", "type", "delay", "timeout", "max_retries",
    "max_retries_down", "http_method", "url_path", "expected_codes", "http_version",
    "domain_name", "pools"}


def active_pool(api: Api, protocol: str = "HTTP") -> dict[str, str]:
    """An ACTIVE load balancer, listener and default pool without a monitor."""
    return api.tree(hm=False, members=0, protocol=protocol)


def post(api: Api, **fields: Any) -> Any:
    return api.post(HMS, json={"healthmonitor": fields})


# --- create ------------------------------------------------------------------------

def test_create_http_has_octavia_defaults(api: Api) -> None:
    ids = active_pool(api)
    api.woken.clear()
    response = post(api, pool_id=ids["pool"], type="HTTP", delay=5, timeout=3, max_retries=2)
    assert response.status_code == 201, response.text
    hm = response.json()["healthmonitor"]
    assert set(hm) == HM_KEYS
    assert (hm["type"], hm["delay"], hm["timeout"], hm["max_retries"]) == ("HTTP", 5, 3, 2)
    assert hm["max_retries_down"] == 3
    assert (hm["http_method"], hm["url_path"], hm["expected_codes"]) == ("GET", "/", "200")
    assert hm["http_version"] is None and hm["domain_name"] is None
    assert hm["name"] == "" and hm["admin_state_up"] is True
    assert hm["project_id"] == "p1" and hm["tenant_id"] == "p1"
    assert hm["provisioning_status"] == "PENDING_CREATE"
    assert hm["operating_status"] == "OFFLINE"
    assert hm["pools"] == [{"id": ids["pool"]}]
    assert api.woken == [ids["lb"]]
    assert api.show("pool", ids["pool"])["provisioning_status"] == "PENDING_UPDATE"
    assert api.show("pool", ids["pool"])["healthmonitor_id"] == hm["id"]
    assert api.show("listener", ids["listener"])["provisioning_status"] == "PENDING_UPDATE"
    assert api.show("loadbalancer", ids["lb"])["provisioning_status"] == "PENDING_UPDATE"
    api.converge(ids["lb"])
    assert api.show("healthmonitor", hm["id"])["provisioning_status"] == "ACTIVE"
    assert api.show("pool", ids["pool"])["provisioning_status"] == "ACTIVE"


def test_create_https_has_http_defaults(api: Api) -> None:
    ids = active_pool(api, protocol="TCP")
    hm = api.create_hm(ids["pool"], type="HTTPS")
    assert hm["type"] == "HTTPS"
    assert (hm["http_method"], hm["url_path"], hm["expected_codes"]) == ("GET", "/", "200")
    shown = api.show("healthmonitor", hm["id"])
    assert (shown["type"], shown["provisioning_status"]) == ("HTTPS", "ACTIVE")
    assert (shown["http_method"], shown["url_path"], shown["expected_codes"]) == ("GET", "/", "200")


def test_create_https_with_http_fields(api: Api) -> None:
    ids = active_pool(api, protocol="TCP")
    hm = api.create_hm(ids["pool"], type="HTTPS", http_method="HEAD", url_path="/healthz",
                       expected_codes="200-204", http_version=1.1, domain_name="svc.example.org")
    shown = api.show("healthmonitor", hm["id"])
    assert (shown["http_method"], shown["url_path"], shown["expected_codes"],
            shown["http_version"], shown["domain_name"]) == (
        "HEAD", "/healthz", "200-204", 1.1, "svc.example.org")
    # Nulls put the HTTP defaults back, as for HTTP.
    response = api.put(f"{HMS}/{hm['id']}", json={"healthmonitor": {
        "http_method": None, "url_path": None, "expected_codes": None}})
    assert response.status_code == 200, response.text
    out = response.json()["healthmonitor"]
    assert (out["http_method"], out["url_path"], out["expected_codes"]) == ("GET", "/", "200")


def test_create_tls_hello_has_no_http_fields(api: Api) -> None:
    ids = active_pool(api, protocol="TCP")
    hm = api.create_hm(ids["pool"], type="TLS-HELLO")
    shown = api.show("healthmonitor", hm["id"])
    assert (shown["type"], shown["provisioning_status"]) == ("TLS-HELLO", "ACTIVE")
    assert (shown["http_method"], shown["url_path"], shown["expected_codes"],
            shown["http_version"], shown["domain_name"]) == (None, None, None, None, None)


@pytest.mark.parametrize("hm_type", ["UDP-CONNECT", "SCTP"])
def test_udp_only_types_on_a_tcp_pool_are_400(api: Api, hm_type: str) -> None:
    ids = active_pool(api, protocol="TCP")
    before = dump(api.db)
    response = post(api, pool_id=ids["pool"], type=hm_type, delay=5, timeout=1, max_retries=1)
    assert_fault(response, 400, f"Validation failure: The {hm_type} type is only supported for "
                                f"pools of type UDP/SCTP.")
    assert dump(api.db) == before


def test_create_tcp_has_no_http_fields(api: Api) -> None:
    ids = active_pool(api, protocol="TCP")
    hm = api.create_hm(ids["pool"], settle=False, type="TCP", max_retries_down=1)
    assert hm["type"] == "TCP" and hm["max_retries_down"] == 1
    assert (hm["http_method"], hm["url_path"], hm["expected_codes"]) == (None, None, None)


def test_create_with_every_http_field(api: Api) -> None:
    ids = active_pool(api)
    hm = api.create_hm(ids["pool"], settle=False, name="probe", type="HTTP", delay=10,
                       timeout=0, max_retries=10, max_retries_down=1, http_method="HEAD",
                       url_path="/health?full=1", expected_codes="200-204",
                       http_version=1.1, domain_name="www.example.com",
                       admin_state_up=False, tags=["hm"])
    assert (hm["name"], hm["delay"], hm["timeout"], hm["max_retries"],
            hm["max_retries_down"]) == ("probe", 10, 0, 10, 1)
    assert (hm["http_method"], hm["url_path"], hm["expected_codes"]) == (
        "HEAD", "/health?full=1", "200-204")
    assert hm["http_version"] == 1.1 and hm["domain_name"] == "www.example.com"
    assert hm["admin_state_up"] is False and hm["tags"] == ["hm"]
    assert api.show("healthmonitor", hm["id"]) == hm


@pytest.mark.parametrize("codes", ["200", "200,202", "200, 202, 204", "200-204", "418"])
def test_expected_codes_forms(api: Api, codes: str) -> None:
    ids = active_pool(api)
    assert api.create_hm(ids["pool"], expected_codes=codes)["expected_codes"] == codes


def test_one_monitor_per_pool(api: Api) -> None:
    ids = active_pool(api)
    first = api.create_hm(ids["pool"])
    before = dump(api.db)
    response = post(api, pool_id=ids["pool"], type="TCP", delay=1, timeout=1, max_retries=1)
    assert_fault(response, 409, first["id"])
    assert dump(api.db) == before


def test_unknown_pool_is_404(api: Api) -> None:
    missing = str(uuid.uuid4())
    response = post(api, pool_id=missing, type="TCP", delay=1, timeout=1, max_retries=1)
    assert_fault(response, 404, f"Pool {missing} not found.")
    assert row_counts(api.db)["health_monitor"] == 0


def test_create_while_pending_is_409(api: Api) -> None:
    ids = active_pool(api)
    api.create_member(ids["pool"], settle=False)
    before = dump(api.db)
    response = post(api, pool_id=ids["pool"], type="TCP", delay=1, timeout=1, max_retries=1)
    assert_fault(response, 409, "PENDING_UPDATE", ids["lb"])
    assert dump(api.db) == before


@pytest.mark.parametrize("fields, field", [
    ({"type": "ping"}, "type"),
    ({"type": "UDP-CONNECT"}, "type"),
    ({"type": "http"}, "type"),
    ({"delay": -1}, "delay"),
    ({"delay": "5.5"}, "delay"),
    ({"delay": None}, "delay"),
    ({"timeout": -1}, "timeout"),
    ({"timeout": 1.5}, "timeout"),
    ({"delay": 2**31}, "delay"),  # beyond the column: never a 500
    ({"timeout": 2**31}, "timeout"),
    ({"expected_codes": ",".join(["200"] * 17)}, "expected_codes"),  # 67 characters
    ({"url_path": "/a\x00b"}, "url_path"),
    ({"url_path": "/a\x7fb"}, "url_path"),
    ({"url_path": "//evil.example/"}, "url_path"),
    ({"max_retries": 0}, "max_retries"),
    ({"max_retries": 11}, "max_retries"),
    ({"max_retries_down": 0}, "max_retries_down"),
    ({"max_retries_down": 11}, "max_retries_down"),
    ({"http_method": "FETCH"}, "http_method"),
    ({"http_method": "get"}, "http_method"),
    ({"url_path": "health"}, "url_path"),
    ({"url_path": "/a b"}, "url_path"),
    ({"url_path": "http://example.com/"}, "url_path"),
    ({"expected_codes": "abc"}, "expected_codes"),
    ({"expected_codes": "200-"}, "expected_codes"),
    ({"expected_codes": "2000"}, "expected_codes"),
    ({"expected_codes": "204-200"}, "expected_codes"),
    ({"expected_codes": 200}, "expected_codes"),
    ({"http_version": 2.0}, "http_version"),
    ({"http_version": "v1.1"}, "http_version"),
    ({"domain_name": "bad_domain!"}, "domain_name"),
    ({"domain_name": "example.com"}, "domain_name"),  # needs http_version 1.1
    ({"domain_name": "example.com", "http_version": 1.0}, "domain_name"),
    ({"admin_state_up": "True"}, "admin_state_up"),
    ({"name": "n" * 256}, "name"),
    ({"pool_id": "p"}, "pool_id"),
    ({"description": "d"}, "description"),
    ({"colour": "red"}, "colour"),
])
def test_invalid_field_is_400_naming_it(api: Api, fields: dict[str, Any], field: str) -> None:
    ids = active_pool(api)
    before = dump(api.db)
    body = {"pool_id": ids["pool"], "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 2,
            **fields}
    assert_fault(api.post(HMS, json={"healthmonitor": body}), 400, field)
    assert dump(api.db) == before


@pytest.mark.parametrize("field, value", [
    ("http_method", "GET"), ("url_path", "/"), ("expected_codes", "200")])
@pytest.mark.parametrize("hm_type", ["TCP", "TLS-HELLO"])
def test_http_fields_on_a_tcp_monitor_are_400(api: Api, field: str, value: Any,
                                              hm_type: str) -> None:
    ids = active_pool(api, protocol="TCP")
    before = dump(api.db)
    response = post(api, pool_id=ids["pool"], type=hm_type, delay=1, timeout=1, max_retries=1,
                    **{field: value})
    assert_fault(response, 400, field)
    assert dump(api.db) == before


def test_http_version_and_domain_name_are_stored_on_a_tcp_monitor(api: Api) -> None:
    """Octavia refuses only http_method, url_path and expected_codes on other types."""
    ids = active_pool(api, protocol="TCP")
    response = post(api, pool_id=ids["pool"], type="TCP", delay=1, timeout=1, max_retries=1,
                    http_version=1.1, domain_name="example.com")
    assert response.status_code == 201, response.text
    hm = response.json()["healthmonitor"]
    assert (hm["http_version"], hm["domain_name"]) == (1.1, "example.com")
    assert hm["url_path"] is None and hm["http_method"] is None
    api.converge(ids["lb"])
    out = api.expect("PUT", f"{HMS}/{hm['id']}", 200,
                     {"healthmonitor": {"domain_name": "other.example.com"}})["healthmonitor"]
    assert out["domain_name"] == "other.example.com"
    api.converge(ids["lb"])
    assert api.show("healthmonitor", hm["id"])["provisioning_status"] == "ACTIVE"


def test_missing_required_fields_are_named(api: Api) -> None:
    ids = active_pool(api)
    for missing in ("pool_id", "type", "delay", "timeout", "max_retries"):
        body = {"pool_id": ids["pool"], "type": "HTTP", "delay": 5, "timeout": 3,
                "max_retries": 2}
        del body[missing]
        assert_fault(api.post(HMS, json={"healthmonitor": body}), 400,
                     f"healthmonitor.{missing}", "Mandatory field missing")


# --- show, update --------------------------------------------------------------------

def test_show_unknown_is_404(api: Api) -> None:
    missing = str(uuid.uuid4())
    assert_fault(api.get(f"{HMS}/{missing}"), 404, f"Health Monitor {missing} not found")


def test_update(api: Api) -> None:
    ids = active_pool(api)
    hm = api.create_hm(ids["pool"])
    api.woken.clear()
    body = {"healthmonitor": {"name": "n", "delay": 9, "timeout": 8, "max_retries": 7,
                              "max_retries_down": 6, "http_method": "POST",
                              "url_path": "/ping", "expected_codes": "202",
                              "http_version": 1.1, "domain_name": "a.example",
                              "admin_state_up": False, "tags": ["u"]}}
    out = api.expect("PUT", f"{HMS}/{hm['id']}", 200, body)["healthmonitor"]
    assert (out["name"], out["delay"], out["timeout"], out["max_retries"],
            out["max_retries_down"]) == ("n", 9, 8, 7, 6)
    assert (out["http_method"], out["url_path"], out["expected_codes"], out["http_version"],
            out["domain_name"]) == ("POST", "/ping", "202", 1.1, "a.example")
    assert out["admin_state_up"] is False and out["tags"] == ["u"]
    assert out["provisioning_status"] == "PENDING_UPDATE"
    assert out["type"] == "HTTP"
    assert api.show("pool", ids["pool"])["provisioning_status"] == "PENDING_UPDATE"
    assert api.woken == [ids["lb"]]
    api.converge(ids["lb"])
    assert api.show("healthmonitor", hm["id"])["provisioning_status"] == "ACTIVE"


def test_update_null_resets_to_defaults(api: Api) -> None:
    ids = active_pool(api)
    hm = api.create_hm(ids["pool"], name="n", max_retries_down=1, http_method="HEAD",
                       url_path="/x", expected_codes="201", admin_state_up=False, tags=["t"])
    body = {"healthmonitor": {k: None for k in (
        "name", "max_retries_down", "http_method", "url_path", "expected_codes",
        "admin_state_up", "tags")}}
    out = api.expect("PUT", f"{HMS}/{hm['id']}", 200, body)["healthmonitor"]
    assert (out["name"], out["max_retries_down"], out["http_method"], out["url_path"],
            out["expected_codes"], out["admin_state_up"], out["tags"]) == (
        "", 3, "GET", "/", "200", True, [])


@pytest.mark.parametrize("fields, field", [
    ({"delay": None}, "delay"),
    ({"timeout": None}, "timeout"),
    ({"max_retries": None}, "max_retries"),
    ({"type": "TCP"}, "type"),
    ({"pool_id": str(uuid.uuid4())}, "pool_id"),
    ({"max_retries": 11}, "max_retries"),
    ({"url_path": "nope"}, "url_path"),
    ({"expected_codes": "2xx"}, "expected_codes"),
    ({"delay": 2**31}, "delay"),
    ({"name": "a\x00"}, "name"),
    ({"domain_name": "example.com"}, "domain_name"),  # http_version is still unset
])
def test_update_invalid_is_400_and_changes_nothing(api: Api, fields: dict[str, Any],
                                                   field: str) -> None:
    ids = active_pool(api)
    hm = api.create_hm(ids["pool"])
    before = dump(api.db)
    assert_fault(api.put(f"{HMS}/{hm['id']}", json={"healthmonitor": fields}), 400, field)
    assert dump(api.db) == before


def test_update_http_field_of_a_tcp_monitor_is_400(api: Api) -> None:
    ids = active_pool(api, protocol="TCP")
    hm = api.create_hm(ids["pool"], type="TCP")
    before = dump(api.db)
    response = api.put(f"{HMS}/{hm['id']}", json={"healthmonitor": {"url_path": "/x"}})
    assert_fault(response, 400, "url_path")
    assert dump(api.db) == before


def test_update_unknown_is_404(api: Api) -> None:
    assert_fault(api.put(f"{HMS}/{uuid.uuid4()}", json={"healthmonitor": {"delay": 1}}), 404)


def test_update_while_pending_is_409(api: Api) -> None:
    ids = active_pool(api)
    hm = api.create_hm(ids["pool"], settle=False)
    assert_fault(api.put(f"{HMS}/{hm['id']}", json={"healthmonitor": {"delay": 1}}), 409,
                 "PENDING_UPDATE")
    assert api.show("healthmonitor", hm["id"])["delay"] == 5


# --- delete --------------------------------------------------------------------------

def test_delete(api: Api) -> None:
    ids = active_pool(api)
    hm = api.create_hm(ids["pool"])
    api.woken.clear()
    response = api.delete(f"{HMS}/{hm['id']}")
    assert response.status_code == 204 and response.content == b""
    assert api.woken == [ids["lb"]]
    assert api.show("healthmonitor", hm["id"])["provisioning_status"] == "PENDING_DELETE"
    assert api.show("pool", ids["pool"])["provisioning_status"] == "PENDING_UPDATE"
    api.converge(ids["lb"])
    assert_fault(api.get(f"{HMS}/{hm['id']}"), 404)
    assert api.show("pool", ids["pool"])["healthmonitor_id"] is None
    # The pool may have a monitor again.
    api.create_hm(ids["pool"], type="TCP")


def test_delete_unknown_is_404(api: Api) -> None:
    assert_fault(api.delete(f"{HMS}/{uuid.uuid4()}"), 404)


def test_delete_while_pending_is_409(api: Api) -> None:
    ids = active_pool(api)
    hm = api.create_hm(ids["pool"])
    api.expect("PUT", f"{HMS}/{hm['id']}", 200, {"healthmonitor": {"delay": 2}})
    assert_fault(api.delete(f"{HMS}/{hm['id']}"), 409, "PENDING_UPDATE")
    assert api.show("healthmonitor", hm["id"])["provisioning_status"] == "PENDING_UPDATE"


# --- operating status ------------------------------------------------------------------

def _tree_hm(api: Api, lb_id: str) -> dict[str, Any]:
    tree = api.expect("GET", f"/v2/lbaas/loadbalancers/{lb_id}/status", 200)
    pool = tree["statuses"]["loadbalancer"]["listeners"][0]["pools"][0]
    return pool["health_monitor"]  # type: ignore[no-any-return]


def _hm_statuses(api: Api, lb_id: str, hm_id: str) -> set[tuple[str, str]]:
    """(provisioning, operating) as show, list and the status tree give them."""
    listed = [hm for hm in api.expect("GET", HMS, 200)["healthmonitors"] if hm["id"] == hm_id]
    return {(o["provisioning_status"], o["operating_status"])
            for o in (api.show("healthmonitor", hm_id), *listed, _tree_hm(api, lb_id))}


def test_operating_status_online_when_enabled_and_active(api: Api) -> None:
    # As Octavia: no heartbeat needed (noop providers never send one), ONLINE once applied.
    ids = active_pool(api)
    hm = api.create_hm(ids["pool"], settle=False)
    assert (hm["provisioning_status"], hm["operating_status"]) == ("PENDING_CREATE", "OFFLINE")
    assert _hm_statuses(api, ids["lb"], hm["id"]) == {("PENDING_CREATE", "OFFLINE")}
    api.converge(ids["lb"])
    assert _hm_statuses(api, ids["lb"], hm["id"]) == {("ACTIVE", "ONLINE")}
    online = api.expect("GET", f"{HMS}?operating_status=ONLINE", 200)["healthmonitors"]
    assert [o["id"] for o in online] == [hm["id"]]
    # Disabled: OFFLINE while the change is pending and once applied.
    response = api.put(f"{HMS}/{hm['id']}", json={"healthmonitor": {"admin_state_up": False}})
    assert response.status_code == 200, response.text
    out = response.json()["healthmonitor"]
    assert (out["provisioning_status"], out["operating_status"]) == ("PENDING_UPDATE", "OFFLINE")
    assert _hm_statuses(api, ids["lb"], hm["id"]) == {("PENDING_UPDATE", "OFFLINE")}
    api.converge(ids["lb"])
    assert _hm_statuses(api, ids["lb"], hm["id"]) == {("ACTIVE", "OFFLINE")}
    assert api.expect("GET", f"{HMS}?operating_status=OFFLINE", 200)["healthmonitors"]
    api.expect("PUT", f"{HMS}/{hm['id']}", 200, {"healthmonitor": {"admin_state_up": True}})
    api.converge(ids["lb"])
    assert _hm_statuses(api, ids["lb"], hm["id"]) == {("ACTIVE", "ONLINE")}


def test_operating_status_of_graph_monitor(api: Api) -> None:
    ids = api.tree()
    assert _hm_statuses(api, ids["lb"], ids["hm"]) == {("ACTIVE", "ONLINE")}


def test_operating_status_offline_in_error(api: Api) -> None:
    ids = active_pool(api)
    hm = api.create_hm(ids["pool"], settle=False)
    fail(api.db, ids["lb"])
    assert _hm_statuses(api, ids["lb"], hm["id"]) == {("ERROR", "OFFLINE")}
