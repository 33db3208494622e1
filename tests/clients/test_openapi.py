"""The published OpenAPI document (/v2/openapi.json) describes what the API really
returns: every response of a whole scenario over HTTP is checked against it."""
from __future__ import annotations

import re
from typing import Any

import httpx
import jsonschema_rs
import pytest

from tests.clients.conftest import Portus


class Checked:
    """An HTTP client that checks each response's code and body against the document."""

    def __init__(self, portus: Portus) -> None:
        self.http = httpx.Client(base_url=portus.url, timeout=30)
        self.doc = self.http.get("/v2/openapi.json").json()
        self.routes = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
                       for path in self.doc["paths"]]
        self.checked: set[tuple[str, str, str]] = set()

    def operation(self, method: str, url: str) -> tuple[str, dict[str, Any]]:
        path = url.split("?")[0]
        matches = [template for regex, template in self.routes if regex.match(path)]
        assert matches, f"{method} {path} is not in the document"
        # The most literal template wins (/pools/{id}/members before /pools/{id}).
        template = min(matches, key=lambda t: t.count("{"))
        ops = self.doc["paths"][template]
        assert method.lower() in ops, f"{method} {template} is not in the document"
        return template, ops[method.lower()]

    def __call__(self, method: str, url: str, code: int, body: Any = None) -> Any:
        response = self.http.request(method, url, json=body)
        assert response.status_code == code, (method, url, response.status_code, response.text)
        template, op = self.operation(method, url)
        documented = op["responses"].get(str(code))
        assert documented is not None, f"{method} {template}: {code} is not documented"
        schema = documented.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            assert not response.content, f"{method} {template} {code}: undocumented body"
            self.checked.add((method, template, str(code)))
            return None
        data = response.json()
        validator = jsonschema_rs.Draft202012Validator(
            {**schema, "components": self.doc["components"]})
        errors = [str(e) for e in validator.iter_errors(data)]
        assert not errors, (method, template, code, errors[:3], data)
        self.checked.add((method, template, str(code)))
        return data


@pytest.fixture
def api(portus: Portus) -> Checked:
    return Checked(portus)


def test_document_declares_codes_and_faults(api: Checked) -> None:
    paths = api.doc["paths"]
    assert "201" in paths["/v2/lbaas/loadbalancers"]["post"]["responses"]
    assert "204" in paths["/v2/lbaas/loadbalancers/{lb_id}"]["delete"]["responses"]
    for ops in paths.values():
        for op in ops.values():
            assert "422" not in op["responses"]  # portus answers 400 with a fault
            assert op["responses"]["400"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Fault"}


def test_every_response_of_a_scenario_matches_the_document(api: Checked,
                                                           portus: Portus) -> None:
    subnet = portus.subnet.id
    lb = api("POST", "/v2/lbaas/loadbalancers", 201, {"loadbalancer": {
        "name": "lb", "vip_subnet_id": subnet, "project_id": "p", "listeners": [
            {"name": "l", "protocol": "HTTP", "protocol_port": 80, "default_pool": {
                "name": "pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                "session_persistence": {"type": "APP_COOKIE", "cookie_name": "s"},
                "members": [{"address": "198.18.1.30", "protocol_port": 80}],
                "healthmonitor": {"type": "HTTP", "delay": 3, "timeout": 2,
                                  "max_retries": 2}}}]}})["loadbalancer"]
    lb_id = lb["id"]
    portus.wait_active(lb_id)
    pool_id = lb["pools"][0]["id"]
    listener_id = lb["listeners"][0]["id"]
    for url in ("/v2/lbaas/loadbalancers", f"/v2/lbaas/loadbalancers/{lb_id}",
                f"/v2/lbaas/loadbalancers/{lb_id}/status",
                f"/v2/lbaas/loadbalancers/{lb_id}/statuses",
                f"/v2/lbaas/loadbalancers/{lb_id}/stats", "/v2/lbaas/listeners",
                f"/v2/lbaas/listeners/{listener_id}", f"/v2/lbaas/listeners/{listener_id}/stats",
                "/v2/lbaas/pools", f"/v2/lbaas/pools/{pool_id}",
                f"/v2/lbaas/pools/{pool_id}/members", "/v2/lbaas/healthmonitors",
                "/v2/lbaas/loadbalancers?fields=id&fields=name&limit=1",
                "/v2/lbaas/pools?fields=members", f"/v2/lbaas/pools/{pool_id}?fields=id"):
        api("GET", url, 200)
    member = api("POST", f"/v2/lbaas/pools/{pool_id}/members", 201, {"member": {
        "address": "198.18.1.31", "protocol_port": 80, "monitor_port": 81}})["member"]
    portus.wait_active(lb_id)
    api("GET", f"/v2/lbaas/pools/{pool_id}/members/{member['id']}", 200)
    api("PUT", f"/v2/lbaas/pools/{pool_id}/members/{member['id']}", 200,
        {"member": {"weight": 0}})
    portus.wait_active(lb_id)
    hm_id = api("GET", "/v2/lbaas/healthmonitors", 200)["healthmonitors"][0]["id"]
    api("PUT", f"/v2/lbaas/healthmonitors/{hm_id}", 200, {"healthmonitor": {"delay": 9}})
    portus.wait_active(lb_id)
    api("PUT", f"/v2/lbaas/listeners/{listener_id}", 200, {"listener": {"name": "x"}})
    portus.wait_active(lb_id)
    api("PUT", f"/v2/lbaas/pools/{pool_id}", 200, {"pool": {"session_persistence": None}})
    portus.wait_active(lb_id)
    api("PUT", f"/v2/lbaas/loadbalancers/{lb_id}", 200, {"loadbalancer": {"name": "y"}})
    portus.wait_active(lb_id)
    other = api("POST", "/v2/lbaas/listeners", 201, {"listener": {
        "loadbalancer_id": lb_id, "protocol": "TCP", "protocol_port": 22}})["listener"]
    portus.wait_active(lb_id)
    pool2 = api("POST", "/v2/lbaas/pools", 201, {"pool": {
        "listener_id": other["id"], "protocol": "TCP", "lb_algorithm": "SOURCE_IP"}})["pool"]
    portus.wait_active(lb_id)
    api("POST", "/v2/lbaas/healthmonitors", 201, {"healthmonitor": {
        "pool_id": pool2["id"], "type": "TCP", "delay": 1, "timeout": 1, "max_retries": 1}})
    portus.wait_active(lb_id)

    # Faults.
    api("GET", "/v2/lbaas/loadbalancers/nope", 404)
    api("POST", "/v2/lbaas/loadbalancers", 400, {"loadbalancer": {"vip_subnet_id": 1}})
    api("POST", "/v2/lbaas/loadbalancers", 400, {"nothing": {}})
    api("GET", "/v2/lbaas/loadbalancers?sort=bogus", 400)
    api("DELETE", f"/v2/lbaas/loadbalancers/{lb_id}", 400)  # it has children
    api("POST", f"/v2/lbaas/pools/{pool_id}/members", 409, {"member": {
        "address": "198.18.1.31", "protocol_port": 80}})

    api("DELETE", f"/v2/lbaas/pools/{pool_id}/members/{member['id']}", 204)
    portus.wait_active(lb_id)
    api("DELETE", f"/v2/lbaas/healthmonitors/{hm_id}", 204)
    portus.wait_active(lb_id)
    api("DELETE", f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true", 204)
    portus.settle()
    assert len(api.checked) >= 30


def test_networking_shim_matches_the_document(api: Checked, portus: Portus) -> None:
    for url in ("/networking/v2.0/subnets?name=demo",
                f"/networking/v2.0/subnets/{portus.subnet.id}", "/networking/v2.0/networks",
                f"/networking/v2.0/networks/{portus.subnet.network_id}"):
        assert api("GET", url, 200)
    api("GET", "/networking/v2.0/subnets/nope", 404)
