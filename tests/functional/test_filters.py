"""Filtering on every top-level attribute, as Octavia ("Any top-level attribute
(`?name=foo`), ANDed", with API names translated to the database's: `vip_address` is
the VIP row's `ip_address`), sorting by the ones that have an order, and the `.json`
suffix on paths."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from portus.common import constants as C
from portus.db import models as m

from tests.functional.conftest import Api, assert_fault

LBS = "/v2/lbaas/loadbalancers"
LISTENERS = "/v2/lbaas/listeners"
POOLS = "/v2/lbaas/pools"
HMS = "/v2/lbaas/healthmonitors"
POLICIES = "/v2/lbaas/l7policies"
AMP = "/v2/octavia/amphorae"
BAD_FILTER = "One or more arguments are either duplicate or invalid"


def ids(api: Api, path: str, plural: str) -> list[str]:
    return [obj["id"] for obj in api.expect("GET", path, 200)[plural]]


def q(value: Any) -> str:
    return quote(value if isinstance(value, str) else json.dumps(value), safe="")


def set_columns(api: Api, model: Any, obj_id: str, **values: Any) -> None:
    """Columns the API would validate per protocol; filters only read them."""
    with api.db.write() as session:
        row = session.get(model, obj_id)
        for key, value in values.items():
            setattr(row, key, value)


# --- load balancers: the VIP fields (a join) and timestamps ------------------------------

def test_lb_vip_fields_filter_and_sort(api: Api) -> None:
    lbs = [api.create_lb(name=f"lb{i}") for i in range(3)]
    for lb in lbs:
        for key in ("vip_address", "vip_port_id"):
            assert ids(api, f"{LBS}?{key}={q(lb[key])}", "loadbalancers") == [lb["id"]], key
        assert ids(api, f"{LBS}?vip_address={lb['vip_address']}&name={lb['name']}",
                   "loadbalancers") == [lb["id"]]
    both = sorted([lbs[0], lbs[2]], key=lambda lb: (lb["created_at"], lb["id"]))
    assert ids(api, f"{LBS}?vip_address={lbs[0]['vip_address']}"
               f"&vip_address={lbs[2]['vip_address']}", "loadbalancers") == [
        lb["id"] for lb in both]
    assert len(ids(api, f"{LBS}?vip_subnet_id={api.subnet_id}", "loadbalancers")) == 3
    network = lbs[0]["vip_network_id"]
    assert len(ids(api, f"{LBS}?vip_network_id={network}&vip_subnet_id={api.subnet_id}",
                   "loadbalancers")) == 3
    assert ids(api, f"{LBS}?vip_network_id={uuid.uuid4()}", "loadbalancers") == []
    assert ids(api, f"{LBS}?vip_address=203.0.113.250", "loadbalancers") == []
    by_address = sorted(lbs, key=lambda lb: lb["vip_address"])
    for direction, wanted in (("asc", by_address), ("desc", by_address[::-1])):
        assert ids(api, f"{LBS}?sort=vip_address:{direction}", "loadbalancers") == [
            lb["id"] for lb in wanted]
        # Paging by a VIP field: the marker's VIP address is looked up in SQL too.
        seen: list[str] = []
        href: str | None = f"{LBS}?sort=vip_address:{direction}&limit=1"
        while href:
            body = api.expect("GET", href.replace("http://testserver", ""), 200)
            seen += [lb["id"] for lb in body["loadbalancers"]]
            href = next((link["href"] for link in body["loadbalancers_links"]
                         if link["rel"] == "next"), None)
        assert seen == [lb["id"] for lb in wanted]
    assert ids(api, f"{LBS}?sort_key=vip_port_id&sort_dir=desc", "loadbalancers") == [
        lb["id"] for lb in sorted(lbs, key=lambda lb: lb["vip_port_id"], reverse=True)]


def test_lb_fields_without_a_store_match_what_is_shown(api: Api) -> None:
    lb = api.create_lb()
    assert lb["vip_vnic_type"] == "normal" and lb["vip_qos_policy_id"] is None
    assert ids(api, f"{LBS}?vip_vnic_type=normal", "loadbalancers") == [lb["id"]]
    assert ids(api, f"{LBS}?vip_vnic_type=direct", "loadbalancers") == []
    assert ids(api, f"{LBS}?vip_qos_policy_id={uuid.uuid4()}", "loadbalancers") == []
    assert ids(api, f"{LBS}?vip_sg_ids={uuid.uuid4()}", "loadbalancers") == []
    # Sorting by a value every object shares leaves the default order.
    assert ids(api, f"{LBS}?sort=vip_vnic_type:desc", "loadbalancers") == [lb["id"]]
    for key in ("vip_sg_ids", "additional_vips", "listeners"):  # lists have no order
        assert_fault(api.get(f"{LBS}?sort={key}"), 400, f"Supplied sort key '{key}' is not valid.")


def test_lb_children_filters(api: Api) -> None:
    tree = api.tree(hm=False, members=0)
    api.create_lb()
    assert ids(api, f"{LBS}?listeners={tree['listener']}", "loadbalancers") == [tree["lb"]]
    assert ids(api, f"{LBS}?pools={tree['pool']}", "loadbalancers") == [tree["lb"]]


def test_timestamps_filter_to_the_second(api: Api) -> None:
    lb = api.create_lb(name="a")
    created = lb["created_at"]
    assert ids(api, f"{LBS}?created_at={created}", "loadbalancers") == [lb["id"]]
    assert ids(api, f"{LBS}?created_at={q(created + 'Z')}", "loadbalancers") == [lb["id"]]
    assert ids(api, f"{LBS}?created_at={q(created + '+00:00')}", "loadbalancers") == [lb["id"]]
    later = (dt.datetime.fromisoformat(created) + dt.timedelta(seconds=1)).isoformat()
    assert ids(api, f"{LBS}?created_at={later}", "loadbalancers") == []
    api.expect("PUT", f"{LBS}/{lb['id']}", 200, {"loadbalancer": {"name": "b"}})
    api.converge(lb["id"])
    updated = api.show("loadbalancer", lb["id"])["updated_at"]
    assert ids(api, f"{LBS}?updated_at={updated}", "loadbalancers") == [lb["id"]]
    assert ids(api, f"{LBS}?sort=updated_at:desc&sort=created_at", "loadbalancers") == [lb["id"]]
    assert_fault(api.get(f"{LBS}?updated_at=2024-13-01T00:00:00"), 400, BAD_FILTER, "2024-13")


# --- listeners ----------------------------------------------------------------------------

def test_listener_filters(api: Api) -> None:
    lb = api.create_lb()
    a = api.create_listener(lb["id"], protocol_port=80, name="a",
                            insert_headers={"X-Forwarded-For": "true",
                                            "X-Forwarded-Port": "true"})
    b = api.create_listener(lb["id"], protocol_port=81, name="b")
    ref = f"http://127.0.0.1:9876/v1/secrets/{uuid.uuid4()}"
    set_columns(api, m.Listener, a["id"], default_tls_container_ref=ref,
                client_authentication="MANDATORY", client_ca_tls_container_ref=ref + "ca",
                client_crl_container_ref=ref + "crl", tls_ciphers="ECDHE-ECDSA-AES256-GCM",
                tls_versions=["TLSv1.2", "TLSv1.3"], alpn_protocols=["h2"],
                hsts_max_age=3600, hsts_preload=True, hsts_include_subdomains=True,
                allowed_cidrs=["192.0.2.0/24"], sni_container_refs=[ref + "sni"])
    set_columns(api, m.Listener, b["id"], tls_versions=["TLSv1.3"],
                alpn_protocols=["http/1.1", "http/1.0"])
    only_a = [a["id"]]
    for params in (f"default_tls_container_ref={q(ref)}", "client_authentication=MANDATORY",
                   f"client_ca_tls_container_ref={q(ref + 'ca')}",
                   f"client_crl_container_ref={q(ref + 'crl')}",
                   "tls_ciphers=ECDHE-ECDSA-AES256-GCM", "tls_versions=TLSv1.2",
                   "alpn_protocols=h2", "hsts_max_age=3600", "hsts_preload=true",
                   "hsts_include_subdomains=True", "allowed_cidrs=192.0.2.0/24",
                   f"sni_container_refs={q(ref + 'sni')}",
                   f"insert_headers={q({'X-Forwarded-For': 'true'})}",
                   f"insert_headers={q({'X-Forwarded-For': 'true', 'X-Forwarded-Port': 'true'})}",
                   f"created_at={a['created_at']}&name=a"):
        assert ids(api, f"{LISTENERS}?{params}", "listeners") == only_a, params
    assert ids(api, f"{LISTENERS}?client_authentication=NONE", "listeners") == [b["id"]]
    assert ids(api, f"{LISTENERS}?hsts_preload=false", "listeners") == [b["id"]]
    assert ids(api, f"{LISTENERS}?alpn_protocols=http/1.0", "listeners") == [b["id"]]
    # A list matches when it holds one of the values asked for.
    assert sorted(ids(api, f"{LISTENERS}?tls_versions=TLSv1.3", "listeners")) == sorted(
        [a["id"], b["id"]])
    assert sorted(ids(api, f"{LISTENERS}?alpn_protocols=h2&alpn_protocols=http/1.1",
                      "listeners")) == sorted([a["id"], b["id"]])
    assert ids(api, f"{LISTENERS}?tls_versions=TLSv1.1", "listeners") == []
    assert ids(api, f"{LISTENERS}?insert_headers={q({'X-Forwarded-For': 'false'})}",
               "listeners") == []
    assert ids(api, f"{LISTENERS}?insert_headers={q({'X-Real-IP': 'true'})}", "listeners") == []
    assert ids(api, f"{LISTENERS}?loadbalancers={lb['id']}&name=b", "listeners") == [b["id"]]
    for bad in ("not-json", q(["X-Forwarded-For"]), q({"X-Forwarded-For": True})):
        assert_fault(api.get(f"{LISTENERS}?insert_headers={bad}"), 400, BAD_FILTER)
    assert_fault(api.get(f"{LISTENERS}?hsts_max_age=long"), 400, BAD_FILTER, "long")
    # Scalar attributes sort; lists and mappings do not.
    assert ids(api, f"{LISTENERS}?sort=hsts_max_age:asc", "listeners") == [a["id"], b["id"]]
    assert ids(api, f"{LISTENERS}?sort=client_authentication:asc", "listeners") == [
        a["id"], b["id"]]
    for key in ("tls_versions", "insert_headers", "allowed_cidrs"):
        assert_fault(api.get(f"{LISTENERS}?sort={key}"), 400, f"'{key}'")


# --- pools, health monitors, members ----------------------------------------------------

def test_pool_filters(api: Api) -> None:
    tree = api.tree(hm=True, members=1)
    other = api.create_pool(loadbalancer_id=tree["lb"], name="other")
    ref = f"http://127.0.0.1:9876/v1/secrets/{uuid.uuid4()}"
    set_columns(api, m.Pool, other["id"], tls_enabled=True, tls_container_ref=ref,
                ca_tls_container_ref=ref + "ca", crl_container_ref=ref + "crl",
                tls_ciphers="AES256-SHA", tls_versions=["TLSv1.3"], alpn_protocols=["h2"])
    pool = [tree["pool"]]
    assert ids(api, f"{POOLS}?healthmonitor_id={tree['hm']}", "pools") == pool
    assert ids(api, f"{POOLS}?listeners={tree['listener']}", "pools") == pool
    assert ids(api, f"{POOLS}?members={tree['member']}", "pools") == pool
    assert ids(api, f"{POOLS}?loadbalancers={tree['lb']}&name=other", "pools") == [other["id"]]
    for params in ("tls_enabled=true", f"tls_container_ref={q(ref)}",
                   f"ca_tls_container_ref={q(ref + 'ca')}",
                   f"crl_container_ref={q(ref + 'crl')}", "tls_ciphers=AES256-SHA",
                   "tls_versions=TLSv1.3", "alpn_protocols=h2",
                   f"created_at={other['created_at']}&name=other"):
        assert ids(api, f"{POOLS}?{params}", "pools") == [other["id"]], params
    assert ids(api, f"{POOLS}?tls_enabled=false", "pools") == pool
    assert ids(api, f"{POOLS}?tls_versions=TLSv1.2", "pools") == []
    # A pool without a monitor sorts as null: last ascending, first descending.
    assert ids(api, f"{POOLS}?sort=healthmonitor_id:asc", "pools") == pool + [other["id"]]
    assert ids(api, f"{POOLS}?sort=healthmonitor_id:desc", "pools") == [other["id"]] + pool
    page = api.expect("GET", f"{POOLS}?sort=healthmonitor_id:desc&limit=1", 200)
    marker = page["pools"][0]["id"]
    assert ids(api, f"{POOLS}?sort=healthmonitor_id:desc&marker={marker}", "pools") == pool
    assert_fault(api.get(f"{POOLS}?sort=listeners"), 400, "'listeners'")


def test_healthmonitor_and_member_filters(api: Api) -> None:
    tree = api.tree(hm=True, members=2)
    set_columns(api, m.HealthMonitor, tree["hm"], http_version=1.1, domain_name="example.com")
    hm = [tree["hm"]]
    assert ids(api, f"{HMS}?http_version=1.1", "healthmonitors") == hm
    assert ids(api, f"{HMS}?http_version=1.0", "healthmonitors") == []
    assert ids(api, f"{HMS}?domain_name=example.com", "healthmonitors") == hm
    assert ids(api, f"{HMS}?pools={tree['pool']}", "healthmonitors") == hm
    assert ids(api, f"{HMS}?sort=http_version:desc,domain_name", "healthmonitors") == hm
    shown = api.show("healthmonitor", tree["hm"])
    assert ids(api, f"{HMS}?created_at={shown['created_at']}", "healthmonitors") == hm
    assert_fault(api.get(f"{HMS}?http_version=one"), 400, BAD_FILTER, "one")
    members = f"{POOLS}/{tree['pool']}/members"
    everyone = ids(api, members, "members")
    assert len(everyone) == 2
    assert ids(api, f"{members}?vnic_type=normal", "members") == everyone
    assert ids(api, f"{members}?vnic_type=direct", "members") == []
    assert ids(api, f"{members}?sort=vnic_type:desc", "members") == everyone
    first = api.show("member", everyone[0], pool_id=tree["pool"])
    created = ids(api, f"{members}?created_at={first['created_at']}", "members")
    assert everyone[0] in created
    assert ids(api, f"{members}?pool_id={tree['pool']}", "members") == everyone


# --- L7 policies and rules: the operating status is computed ----------------------------

def test_l7_operating_status_filters_and_sorts(api: Api) -> None:
    tree = api.tree(hm=False, members=0)
    on = api.expect("POST", POLICIES, 201, {"l7policy": {
        "listener_id": tree["listener"], "action": "REJECT", "name": "on"}})["l7policy"]
    api.settle()
    off = api.expect("POST", POLICIES, 201, {"l7policy": {
        "listener_id": tree["listener"], "action": "REJECT", "name": "off",
        "admin_state_up": False}})["l7policy"]
    api.settle()
    rules = f"{POLICIES}/{on['id']}/rules"
    rule_on = api.expect("POST", rules, 201, {"rule": {
        "type": "PATH", "compare_type": "STARTS_WITH", "value": "/a"}})["rule"]
    api.settle()
    rule_off = api.expect("POST", rules, 201, {"rule": {
        "type": "PATH", "compare_type": "STARTS_WITH", "value": "/b",
        "admin_state_up": False}})["rule"]
    api.settle()
    for policy, shown in ((on, C.ONLINE), (off, C.OFFLINE)):
        body = api.expect("GET", f"{POLICIES}/{policy['id']}", 200)["l7policy"]
        assert body["operating_status"] == shown
    assert ids(api, f"{POLICIES}?operating_status=ONLINE", "l7policies") == [on["id"]]
    assert ids(api, f"{POLICIES}?operating_status=OFFLINE", "l7policies") == [off["id"]]
    assert ids(api, f"{POLICIES}?operating_status=ERROR", "l7policies") == []
    assert ids(api, f"{POLICIES}?sort=operating_status:desc", "l7policies") == [
        on["id"], off["id"]]
    assert ids(api, f"{POLICIES}?sort=operating_status:asc", "l7policies") == [
        off["id"], on["id"]]
    assert ids(api, f"{POLICIES}?rules={rule_off['id']}", "l7policies") == [on["id"]]
    assert ids(api, f"{POLICIES}?created_at={on['created_at']}&name=on", "l7policies") == [
        on["id"]]
    assert ids(api, f"{rules}?operating_status=ONLINE", "rules") == [rule_on["id"]]
    assert ids(api, f"{rules}?operating_status=OFFLINE", "rules") == [rule_off["id"]]
    assert ids(api, f"{rules}?sort=operating_status:asc", "rules") == [
        rule_off["id"], rule_on["id"]]
    shown = api.expect("GET", f"{rules}/{rule_on['id']}", 200)["rule"]
    assert rule_on["id"] in ids(api, f"{rules}?created_at={shown['created_at']}", "rules")


# --- amphorae -------------------------------------------------------------------------------

def test_amphora_filters(api: Api) -> None:
    lb = api.create_lb()
    expires = dt.datetime(2031, 5, 6, 7, 8, 9, 123456)
    master, backup = str(uuid.uuid4()), str(uuid.uuid4())
    with api.db.write() as session:
        for amp_id, role, priority, ip in ((master, C.ROLE_MASTER, 150, "198.18.0.20"),
                                           (backup, C.ROLE_BACKUP, 100, "198.18.0.21")):
            session.add(m.Amphora(id=amp_id, load_balancer_id=lb["id"], status=C.AMP_ALLOCATED,
                                  role=role, lb_network_ip=ip, vrrp_id=1, vrrp_priority=priority,
                                  vrrp_interface="vip0", cert_expiration=expires,
                                  compute_id="portus-amp-" + amp_id))
    both = sorted([master, backup])
    assert ids(api, f"{AMP}?vrrp_priority=150", "amphorae") == [master]
    assert sorted(ids(api, f"{AMP}?vrrp_id=1&vrrp_interface=vip0", "amphorae")) == both
    assert sorted(ids(api, f"{AMP}?cert_expiration=2031-05-06T07:08:09", "amphorae")) == both
    assert ids(api, f"{AMP}?cert_expiration=2031-05-06T07:08:10", "amphorae") == []
    shown = api.expect("GET", f"{AMP}/{master}", 200)["amphora"]
    assert master in ids(api, f"{AMP}?created_at={shown['created_at']}", "amphorae")
    for key in ("cached_zone", "image_id", "compute_flavor"):  # no Nova: always null
        assert ids(api, f"{AMP}?{key}=x", "amphorae") == []
    assert ids(api, f"{AMP}?sort=vrrp_priority:desc", "amphorae") == [master, backup]
    assert ids(api, f"{AMP}?sort=vrrp_priority:asc", "amphorae") == [backup, master]


# --- .json suffix -----------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["/v2/lbaas", "/v2.0/lbaas", "/v2"])
def test_json_suffix_is_accepted(api: Api, prefix: str) -> None:
    lb = api.create_lb(name="web")
    plain = TestClient.request(api, "GET", f"{prefix}/loadbalancers?name=web")
    suffixed = TestClient.request(api, "GET", f"{prefix}/loadbalancers.json?name=web")
    assert suffixed.status_code == 200 and plain.status_code == 200
    assert suffixed.json()["loadbalancers"] == plain.json()["loadbalancers"]
    one = TestClient.request(api, "GET", f"{prefix}/loadbalancers/{lb['id']}.json")
    assert one.status_code == 200 and one.json()["loadbalancer"]["id"] == lb["id"]
    # Writes too, as Octavia routes them.
    changed = TestClient.request(api, "PUT", f"{prefix}/loadbalancers/{lb['id']}.json",
                                 json={"loadbalancer": {"description": "d"}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["loadbalancer"]["description"] == "d"


def test_json_suffix_leaves_the_openapi_document_alone(api: Api) -> None:
    assert api.get("/v2/openapi.json").json()["info"]["title"] == "portus"
    assert TestClient.request(api, "GET", "/v2/lbaas/nothing.json").status_code == 404
