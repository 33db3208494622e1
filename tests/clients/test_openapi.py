"""The published OpenAPI document (/v2/openapi.json) describes what the API really
accepts and returns: a scenario over HTTP calls every documented operation, and each
response (code and body, strictly) is checked against the document."""
from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from portus.common import constants as C
from portus.db import models as m
from tests.clients.conftest import Portus
from tests.openapi_conformance import Conformance

LB = "/v2/lbaas"


class Checked:
    """An HTTP client that checks each response against the document."""

    def __init__(self, portus: Portus) -> None:
        self.http = httpx.Client(base_url=portus.url, timeout=30)
        self.doc = self.http.get("/v2/openapi.json").json()
        self.conformance = Conformance(self.doc)

    def __call__(self, method: str, url: str, code: int, body: Any = None) -> Any:
        response = self.http.request(method, url, json=body)
        assert response.status_code == code, (method, url, response.status_code, response.text)
        assert self.conformance.check(method, response.request.url.path, code,
                                      response.content), f"{method} {url} is not documented"
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.content or None  # a secret's payload: its bytes

    def unreached(self) -> list[str]:
        """Documented operations no successful response was checked for."""
        reached = {(method, template) for method, template, code in self.conformance.checked
                   if code.startswith("2")}
        return sorted(f"{method.upper()} {template}"
                      for template, ops in self.doc["paths"].items() for method in ops
                      if (method, template) not in reached)


@pytest.fixture
def api(portus: Portus) -> Checked:
    return Checked(portus)


def test_document_declares_codes_and_faults(api: Checked) -> None:
    paths = api.doc["paths"]
    assert "201" in paths[LB + "/loadbalancers"]["post"]["responses"]
    assert "204" in paths[LB + "/loadbalancers/{lb_id}"]["delete"]["responses"]
    assert "202" in paths[LB + "/pools/{pool_id}/members"]["put"]["responses"]
    assert "501" in paths[LB + "/loadbalancers"]["post"]["responses"]
    assert "404" not in paths[LB + "/loadbalancers"]["get"]["responses"]
    assert "403" not in paths["/networking/v2.0/subnets"]["get"]["responses"]
    for ops in paths.values():
        for op in ops.values():
            assert "422" not in op["responses"]  # portus answers 400 with a fault
            for code, response in op["responses"].items():
                if code >= "400":
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/Fault"}


def _core(api: Checked, portus: Portus) -> dict[str, str]:
    """Load balancers, listeners, pools, members, health monitors, L7 policies and rules;
    leaves an ACTIVE tree and returns its ids."""
    lb = api("POST", LB + "/loadbalancers", 201, {"loadbalancer": {
        "name": "lb", "vip_subnet_id": portus.subnet.id, "project_id": "p",
        "additional_vips": [{"subnet_id": portus.cfg.network.subnets[1].id}], "listeners": [
            {"name": "l", "protocol": "HTTP", "protocol_port": 80, "default_pool": {
                "name": "pool", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                "session_persistence": {"type": "APP_COOKIE", "cookie_name": "s"},
                "members": [{"address": "198.18.1.30", "protocol_port": 80}],
                "healthmonitor": {"type": "HTTP", "delay": 3, "timeout": 2,
                                  "max_retries": 2}}}]}})["loadbalancer"]
    ids = {"lb": lb["id"], "pool": lb["pools"][0]["id"], "listener": lb["listeners"][0]["id"]}
    lb_id, pool_id, listener_id = ids["lb"], ids["pool"], ids["listener"]
    portus.wait_active(lb_id)

    def change(method: str, url: str, code: int, body: Any = None) -> Any:
        out = api(method, url, code, body)
        portus.wait_active(lb_id)
        return out

    for url in (LB + "/loadbalancers", f"{LB}/loadbalancers/{lb_id}",
                f"{LB}/loadbalancers/{lb_id}/status", f"{LB}/loadbalancers/{lb_id}/statuses",
                f"{LB}/loadbalancers/{lb_id}/stats", LB + "/listeners",
                f"{LB}/listeners/{listener_id}", f"{LB}/listeners/{listener_id}/stats",
                LB + "/pools", f"{LB}/pools/{pool_id}", f"{LB}/pools/{pool_id}/members",
                LB + "/healthmonitors", LB + "/loadbalancers?fields=id&fields=name&limit=1",
                LB + "/pools?fields=members", f"{LB}/pools/{pool_id}?fields=id"):
        api("GET", url, 200)
    member = change("POST", f"{LB}/pools/{pool_id}/members", 201, {"member": {
        "address": "198.18.1.31", "protocol_port": 80, "monitor_port": 81}})["member"]
    api("GET", f"{LB}/pools/{pool_id}/members/{member['id']}", 200)
    change("PUT", f"{LB}/pools/{pool_id}/members/{member['id']}", 200, {"member": {"weight": 0}})
    change("PUT", f"{LB}/pools/{pool_id}/members?additive_only=true", 202, {"members": [
        {"address": "198.18.1.32", "protocol_port": 80}]})
    hm_id = api("GET", LB + "/healthmonitors", 200)["healthmonitors"][0]["id"]
    api("GET", f"{LB}/healthmonitors/{hm_id}", 200)
    change("PUT", f"{LB}/healthmonitors/{hm_id}", 200, {"healthmonitor": {"delay": 9}})
    change("PUT", f"{LB}/listeners/{listener_id}", 200, {"listener": {"name": "x"}})
    change("PUT", f"{LB}/pools/{pool_id}", 200, {"pool": {"session_persistence": None}})
    change("PUT", f"{LB}/loadbalancers/{lb_id}", 200, {"loadbalancer": {"name": "y"}})
    other = change("POST", LB + "/listeners", 201, {"listener": {
        "loadbalancer_id": lb_id, "protocol": "TCP", "protocol_port": 22}})["listener"]
    pool2 = change("POST", LB + "/pools", 201, {"pool": {
        "listener_id": other["id"], "protocol": "TCP", "lb_algorithm": "SOURCE_IP"}})["pool"]
    change("POST", LB + "/healthmonitors", 201, {"healthmonitor": {
        "pool_id": pool2["id"], "type": "TCP", "delay": 1, "timeout": 1, "max_retries": 1}})

    policy = change("POST", LB + "/l7policies", 201, {"l7policy": {
        "listener_id": listener_id, "action": "REDIRECT_TO_URL",
        "redirect_url": "http://example.com/", "rules": [
            {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/old"}]}})["l7policy"]
    policy_id = policy["id"]
    for url in (LB + "/l7policies", f"{LB}/l7policies/{policy_id}",
                f"{LB}/l7policies/{policy_id}/rules", f"{LB}/l7policies?fields=rules"):
        api("GET", url, 200)
    change("PUT", f"{LB}/l7policies/{policy_id}", 200, {"l7policy": {"position": 1}})
    rule = change("POST", f"{LB}/l7policies/{policy_id}/rules", 201, {"rule": {
        "type": "HEADER", "compare_type": "EQUAL_TO", "key": "X-A", "value": "b"}})["rule"]
    api("GET", f"{LB}/l7policies/{policy_id}/rules/{rule['id']}", 200)
    change("PUT", f"{LB}/l7policies/{policy_id}/rules/{rule['id']}", 200,
           {"rule": {"invert": True}})
    change("DELETE", f"{LB}/l7policies/{policy_id}/rules/{rule['id']}", 204)
    change("DELETE", f"{LB}/l7policies/{policy_id}", 204)

    # Faults.
    api("GET", LB + "/loadbalancers/nope", 404)
    api("POST", LB + "/loadbalancers", 400, {"loadbalancer": {"vip_subnet_id": 1}})
    api("POST", LB + "/loadbalancers", 400, {"nothing": {}})
    api("GET", LB + "/loadbalancers?sort=bogus", 400)
    api("DELETE", f"{LB}/loadbalancers/{lb_id}", 400)  # it has children
    api("POST", f"{LB}/pools/{pool_id}/members", 409, {"member": {
        "address": "198.18.1.31", "protocol_port": 80}})
    api("POST", LB + "/pools", 501, {"pool": {
        "loadbalancer_id": lb_id, "protocol": "TCP", "lb_algorithm": "SOURCE_IP_PORT"}})

    change("DELETE", f"{LB}/pools/{pool_id}/members/{member['id']}", 204)
    change("DELETE", f"{LB}/healthmonitors/{hm_id}", 204)
    change("DELETE", f"{LB}/pools/{pool2['id']}", 204)
    change("DELETE", f"{LB}/listeners/{other['id']}", 204)
    change("PUT", f"{LB}/loadbalancers/{lb_id}/failover", 202)
    return ids


def _amphorae(api: Checked, portus: Portus, lb_id: str) -> None:
    """The admin amphora API, on an amphora row as the worker would have made it."""
    amp_id = m.new_id()
    with portus.db.write() as session:
        session.add(m.Amphora(id=amp_id, load_balancer_id=lb_id, compute_id="ns",
                              lb_network_ip="198.18.0.250", role="STANDALONE",
                              status=C.AMP_ALLOCATED))
    api("GET", f"/v2/octavia/amphorae/{amp_id}/stats", 404)  # nothing reported yet
    with portus.db.write() as session:
        listener_id = session.scalars(select(m.Listener.id).where(
            m.Listener.load_balancer_id == lb_id)).first()
        session.add(m.ListenerStatistics(listener_id=listener_id, amphora_id=amp_id))
    for url in ("/v2/octavia/amphorae", f"/v2/octavia/amphorae/{amp_id}",
                f"/v2/octavia/amphorae/{amp_id}?fields=status",
                f"/v2/octavia/amphorae/{amp_id}/stats"):
        api("GET", url, 200)
    api("PUT", f"/v2/octavia/amphorae/{amp_id}/config", 202)
    portus.wait_active(lb_id)
    with portus.worker.paused():  # the worker would replace it; here it stays in ERROR
        api("PUT", f"/v2/octavia/amphorae/{amp_id}/failover", 202)
        api("DELETE", f"/v2/octavia/amphorae/{amp_id}", 204)
    portus.wait_active(lb_id)
    api("GET", "/v2/octavia/amphorae/nope", 404)


def _admin(api: Checked) -> None:
    """Quotas, providers, flavors, availability zones and their profiles."""
    for url in (LB + "/quotas", LB + "/quotas/defaults", LB + "/quotas/p",
                LB + "/quotas/p/default", LB + "/providers", LB + "/providers?fields=name",
                LB + "/providers/amphora/flavor_capabilities",
                LB + "/providers/amphora/availability_zone_capabilities"):
        api("GET", url, 200)
    api("PUT", LB + "/quotas/p", 202, {"quota": {"loadbalancer": 5, "health_monitor": -1}})
    api("GET", LB + "/quotas", 200)
    api("DELETE", LB + "/quotas/p", 202)
    api("GET", LB + "/providers/nope/flavor_capabilities", 400)

    fp = api("POST", LB + "/flavorprofiles", 201, {"flavorprofile": {
        "name": "fp", "provider_name": "amphora",
        "flavor_data": json.dumps({"loadbalancer_topology": "SINGLE"})}})["flavorprofile"]
    flavor = api("POST", LB + "/flavors", 201, {"flavor": {
        "name": "f", "flavor_profile_id": fp["id"]}})["flavor"]
    azp = api("POST", LB + "/availabilityzoneprofiles", 201, {"availability_zone_profile": {
        "name": "azp", "provider_name": "amphora",
        "availability_zone_data": json.dumps({"compute_zone": "z"})}})[
        "availability_zone_profile"]
    api("POST", LB + "/availabilityzones", 201, {"availability_zone": {
        "name": "az", "availability_zone_profile_id": azp["id"]}})
    for family, key, obj_id, change in (
            ("flavorprofiles", "flavorprofile", fp["id"], {"name": "fp2"}),
            ("flavors", "flavor", flavor["id"], {"description": "d"}),
            ("availabilityzoneprofiles", "availability_zone_profile", azp["id"],
             {"name": "azp2"}),
            ("availabilityzones", "availability_zone", "az", {"enabled": False})):
        api("GET", f"{LB}/{family}", 200)
        api("GET", f"{LB}/{family}/{obj_id}", 200)
        api("PUT", f"{LB}/{family}/{obj_id}", 200, {key: change})
    api("DELETE", LB + "/flavorprofiles/" + fp["id"], 409)  # a flavor uses it
    for family, obj_id in (("flavors", flavor["id"]), ("flavorprofiles", fp["id"]),
                           ("availabilityzones", "az"), ("availabilityzoneprofiles", azp["id"])):
        api("DELETE", f"{LB}/{family}/{obj_id}", 204)


def _shims(api: Checked, portus: Portus, lb_id: str) -> None:
    """Version documents, and the networking and identity answers the CLI needs (and
    the VIP port Terraform's provider reads)."""
    net = "/networking/v2.0"
    port = api("GET", f"{LB}/loadbalancers/{lb_id}", 200)["loadbalancer"]["vip_port_id"]
    assert api("GET", f"{net}/ports/{port}", 200)["port"]["device_id"] == f"lb-{lb_id}"
    for url in ("/", "/v2", "/v2.0", "/networking/", f"{net}/subnets?name=demo",
                f"{net}/subnets/{portus.subnet.id}", f"{net}/networks",
                f"{net}/networks/{portus.subnet.network_id}", f"{net}/ports",
                f"{net}/qos/policies", f"{net}/security-groups", "/v2/subnets?fields=id",
                "/projects/p", "/projects?name=p"):
        api("GET", url, 200)
    api("GET", f"{net}/subnets/nope", 404)


def _secrets(api: Checked) -> None:
    """The Barbican-compatible store behind *_container_ref (noauth: an admin caller)."""
    ref = api("POST", "/v1/secrets", 201, {"name": "n", "payload": "hello"})["secret_ref"]
    path = "/v1/secrets/" + ref.rsplit("/", 1)[1]
    assert api("GET", path, 200)["secret_ref"] == ref
    assert api("GET", path + "/payload", 200) == b"hello"
    assert api("GET", "/v1/secrets?limit=1", 200)["total"] == 1
    api("DELETE", path, 204)
    api("GET", path, 404)


def test_every_operation_answers_as_documented(api: Checked, portus: Portus) -> None:
    _secrets(api)
    ids = _core(api, portus)
    _amphorae(api, portus, ids["lb"])
    _admin(api)
    _shims(api, portus, ids["lb"])
    api("DELETE", f"{LB}/loadbalancers/{ids['lb']}?cascade=true", 204)
    portus.settle()
    assert api.unreached() == []
