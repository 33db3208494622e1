"""List endpoints: filters, limit/marker/page_reverse and links, sorting, fields."""
from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.functional.conftest import Api, assert_fault

LBS = "/v2/lbaas/loadbalancers"


def names(body: dict[str, Any], plural: str = "loadbalancers") -> list[str]:
    return [obj["name"] for obj in body[plural]]


def five(api: Api) -> list[dict[str, Any]]:
    """Five ACTIVE load balancers lb0..lb4, returned in the default list order: by
    created_at, then id. Timestamps have whole seconds, so the id mostly decides."""
    lbs = [api.create_lb(name=f"lb{i}", description="odd" if i % 2 else "even",
                         admin_state_up=i != 3) for i in range(5)]
    return sorted(lbs, key=lambda lb: (lb["created_at"], lb["id"]))


def order(lbs: list[dict[str, Any]], *wanted: str) -> list[str]:
    """Names of `lbs` (already in list order), keeping only `wanted` if given."""
    return [lb["name"] for lb in lbs if not wanted or lb["name"] in wanted]


def link(body: dict[str, Any], rel: str, plural: str = "loadbalancers") -> str | None:
    for item in body[f"{plural}_links"]:
        if item["rel"] == rel:
            return str(item["href"])
    return None


def query(href: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(href).query)


# --- empty and unfiltered lists ----------------------------------------------------

@pytest.mark.parametrize("path, plural", [
    (LBS, "loadbalancers"), ("/v2/lbaas/listeners", "listeners"), ("/v2/lbaas/pools", "pools"),
    ("/v2/lbaas/healthmonitors", "healthmonitors")])
def test_empty_list(api: Api, path: str, plural: str) -> None:
    assert api.expect("GET", path, 200) == {plural: [], f"{plural}_links": []}


def test_list_shows_the_same_objects_as_show(api: Api) -> None:
    ids = api.tree()
    for path, plural, kind, obj_id in (
            (LBS, "loadbalancers", "loadbalancer", ids["lb"]),
            ("/v2/lbaas/listeners", "listeners", "listener", ids["listener"]),
            ("/v2/lbaas/pools", "pools", "pool", ids["pool"]),
            ("/v2/lbaas/healthmonitors", "healthmonitors", "healthmonitor", ids["hm"])):
        assert api.expect("GET", path, 200)[plural] == [api.show(kind, obj_id)], plural
    members = api.expect("GET", f"/v2/lbaas/pools/{ids['pool']}/members", 200)["members"]
    assert members == [api.show("member", ids["member"], pool_id=ids["pool"])]


def test_default_order_is_created_at_then_id(api: Api) -> None:
    lbs = five(api)
    assert names(api.expect("GET", LBS, 200)) == order(lbs)


# --- filters ---------------------------------------------------------------------------

def test_filters(api: Api) -> None:
    lbs = five(api)
    assert names(api.expect("GET", f"{LBS}?name=lb2", 200)) == ["lb2"]
    assert names(api.expect("GET", f"{LBS}?description=odd", 200)) == order(lbs, "lb1", "lb3")
    assert names(api.expect("GET", f"{LBS}?admin_state_up=false", 200)) == ["lb3"]
    assert names(api.expect("GET", f"{LBS}?admin_state_up=True", 200)) == order(
        lbs, "lb0", "lb1", "lb2", "lb4")
    assert names(api.expect("GET", f"{LBS}?name=lb1&name=lb4", 200)) == order(lbs, "lb1", "lb4")
    assert names(api.expect("GET", f"{LBS}?name=lb1&description=even", 200)) == []
    assert names(api.expect("GET", f"{LBS}?id={lbs[0]['id']}", 200)) == [lbs[0]["name"]]
    assert len(api.expect("GET", f"{LBS}?project_id=p1", 200)["loadbalancers"]) == 5
    assert len(api.expect("GET", f"{LBS}?tenant_id=p1", 200)["loadbalancers"]) == 5
    assert api.expect("GET", f"{LBS}?project_id=p2", 200)["loadbalancers"] == []
    assert len(api.expect("GET", f"{LBS}?provisioning_status=ACTIVE", 200)["loadbalancers"]) == 5


def test_filters_on_children(api: Api) -> None:
    lb = api.create_lb()
    http = api.create_listener(lb["id"], protocol="HTTP", protocol_port=80, name="http")
    api.create_listener(lb["id"], protocol="TCP", protocol_port=22, name="ssh")
    other = api.create_lb()
    api.create_listener(other["id"], protocol="TCP", protocol_port=23, name="telnet")
    listeners = "/v2/lbaas/listeners"
    assert sorted(names(api.expect("GET", f"{listeners}?protocol=TCP", 200), "listeners")) == [
        "ssh", "telnet"]
    assert names(api.expect("GET", f"{listeners}?protocol_port=80", 200), "listeners") == ["http"]
    assert sorted(names(api.expect("GET", f"{listeners}?loadbalancer_id={lb['id']}", 200),
                        "listeners")) == ["http", "ssh"]
    pool = api.create_pool(listener_id=http["id"], name="p", lb_algorithm="SOURCE_IP")
    api.create_pool(loadbalancer_id=other["id"], name="q")
    pools = "/v2/lbaas/pools"
    assert names(api.expect("GET", f"{pools}?lb_algorithm=SOURCE_IP", 200), "pools") == ["p"]
    assert names(api.expect("GET", f"{pools}?loadbalancer_id={other['id']}", 200),
                 "pools") == ["q"]
    api.create_member(pool["id"], name="a", address="192.0.2.1", weight=5)
    api.create_member(pool["id"], name="b", address="192.0.2.2")
    members = f"/v2/lbaas/pools/{pool['id']}/members"
    assert names(api.expect("GET", f"{members}?weight=5", 200), "members") == ["a"]
    assert names(api.expect("GET", f"{members}?address=192.0.2.2", 200), "members") == ["b"]
    api.create_hm(pool["id"], name="h", max_retries=4)
    hms = "/v2/lbaas/healthmonitors"
    assert names(api.expect("GET", f"{hms}?max_retries=4", 200), "healthmonitors") == ["h"]
    assert names(api.expect("GET", f"{hms}?pool_id={pool['id']}", 200), "healthmonitors") == ["h"]
    assert names(api.expect("GET", f"{hms}?max_retries=3", 200), "healthmonitors") == []


def test_vip_filters(api: Api) -> None:
    """gophercloud's loadbalancers.ListOpts (Terraform, cloud-provider-openstack) filters
    on vip_address, vip_port_id, vip_subnet_id and vip_network_id, as Octavia allows: the
    values are the VIP's, kept in another table."""
    a, b = api.create_lb(name="a"), api.create_lb(name="b")
    assert a["vip_address"] != b["vip_address"] and a["vip_port_id"] != b["vip_port_id"]
    assert names(api.expect("GET", f"{LBS}?vip_address={a['vip_address']}", 200)) == ["a"]
    assert names(api.expect("GET", f"{LBS}?vip_port_id={b['vip_port_id']}", 200)) == ["b"]
    both = sorted(names(api.expect(
        "GET", f"{LBS}?vip_address={a['vip_address']}&vip_address={b['vip_address']}", 200)))
    assert both == ["a", "b"]
    for key in ("vip_subnet_id", "vip_network_id"):
        assert sorted(names(api.expect("GET", f"{LBS}?{key}={a[key]}", 200))) == ["a", "b"]
        assert names(api.expect("GET", f"{LBS}?{key}={uuid.uuid4()}", 200)) == []
    assert names(api.expect("GET", f"{LBS}?vip_subnet_id={a['vip_subnet_id']}"
                                   f"&name=b", 200)) == ["b"]
    assert names(api.expect("GET", f"{LBS}?vip_qos_policy_id={uuid.uuid4()}", 200)) == []
    # With paging: the page's statement joins the vip table as well.
    page = api.expect("GET", f"{LBS}?vip_subnet_id={a['vip_subnet_id']}&limit=1&sort=name", 200)
    assert names(page) == ["a"]
    nxt = link(page, "next")
    assert nxt is not None and query(nxt)["vip_subnet_id"] == [a["vip_subnet_id"]]
    assert names(api.expect("GET", nxt.replace("http://testserver", ""), 200)) == ["b"]


BAD_FILTER = "One or more arguments are either duplicate or invalid"


@pytest.mark.parametrize("params", [
    "colour=red", "vip=x", "lease_owner=w", "desired_generation=1", "status_reason=x",
    "tag=a",  # tags, tags-any, not-tags, not-tags-any are filters (test_tags.py)
])
def test_unknown_filters_are_400_as_octavia(api: Api, params: str) -> None:
    # Octavia's InvalidFilterArgument, word for word.
    assert assert_fault(api.get(f"{LBS}?{params}"), 400) == BAD_FILTER


@pytest.mark.parametrize("params, text", [
    ("admin_state_up=maybe", "maybe"), ("created_at=yesterday", "yesterday")])
def test_bad_filter_values_are_400(api: Api, params: str, text: str) -> None:
    assert_fault(api.get(f"{LBS}?{params}"), 400, BAD_FILTER, text)


def test_bad_integer_filter_is_400(api: Api) -> None:
    assert_fault(api.get("/v2/lbaas/listeners?protocol_port=eighty"), 400, BAD_FILTER, "eighty")


def test_deleted_objects_are_not_listed(api: Api) -> None:
    keep, gone = api.create_lb(name="keep"), api.create_lb(name="gone")
    api.expect("DELETE", f"{LBS}/{gone['id']}", 204)
    assert sorted(names(api.expect("GET", LBS, 200))) == ["gone", "keep"]  # PENDING_DELETE
    api.converge(gone["id"])
    assert names(api.expect("GET", LBS, 200)) == ["keep"]
    assert api.expect("GET", f"{LBS}?provisioning_status=DELETED", 200)["loadbalancers"] == []
    assert keep["id"] != gone["id"]


# --- paging ------------------------------------------------------------------------

def test_pages_and_links(api: Api) -> None:
    lbs = five(api)
    first = api.expect("GET", f"{LBS}?limit=2", 200)
    assert names(first) == order(lbs[0:2])
    next_href = link(first, "next")
    assert next_href is not None and link(first, "previous") is None
    assert urlsplit(next_href).path == LBS
    assert query(next_href) == {"limit": ["2"], "marker": [lbs[1]["id"]]}

    second = api.expect("GET", f"{LBS}?limit=2&marker={lbs[1]['id']}", 200)
    assert names(second) == order(lbs[2:4])
    assert query(link(second, "next") or "") == {"limit": ["2"], "marker": [lbs[3]["id"]]}
    assert query(link(second, "previous") or "") == {
        "limit": ["2"], "marker": [lbs[2]["id"]], "page_reverse": ["True"]}

    last = api.expect("GET", f"{LBS}?limit=2&marker={lbs[3]['id']}", 200)
    assert names(last) == order(lbs[4:])
    assert link(last, "next") is None and link(last, "previous") is not None

    # Going back from the second page gives the first, in the same order.
    back = api.expect("GET", f"{LBS}?limit=2&marker={lbs[2]['id']}&page_reverse=True", 200)
    assert names(back) == order(lbs[0:2])


def test_following_next_links_visits_everything_once(api: Api) -> None:
    lbs = five(api)
    seen: list[str] = []
    href: str | None = f"{LBS}?limit=1"
    while href:
        body = api.expect("GET", href.replace("http://testserver", ""), 200)
        seen += names(body)
        href = link(body, "next")
        assert len(seen) <= 5
    assert seen == order(lbs)


def test_links_keep_filters_and_sort(api: Api) -> None:
    five(api)
    body = api.expect("GET", f"{LBS}?description=even&sort=name:desc&limit=1", 200)
    assert names(body) == ["lb4"]
    params = query(link(body, "next") or "")
    assert params["description"] == ["even"] and params["sort"] == ["name:desc"]
    follow = api.expect("GET", (link(body, "next") or "").replace("http://testserver", ""), 200)
    assert names(follow) == ["lb2"]


def test_page_reverse_without_marker_gives_the_last_page(api: Api) -> None:
    lbs = five(api)
    body = api.expect("GET", f"{LBS}?limit=2&page_reverse=true", 200)
    assert names(body) == order(lbs[3:])


@pytest.mark.parametrize("limit", ["0", "-1", "infinite", "1000", "5000"])
def test_limits_meaning_everything(api: Api, limit: str) -> None:
    five(api)
    body = api.expect("GET", f"{LBS}?limit={limit}", 200)
    assert len(body["loadbalancers"]) == 5 and body["loadbalancers_links"] == []


def test_limit_exactly_the_size_has_no_next_link(api: Api) -> None:
    five(api)
    body = api.expect("GET", f"{LBS}?limit=5", 200)
    assert len(body["loadbalancers"]) == 5 and link(body, "next") is None


def test_bad_limit_and_marker_are_400(api: Api) -> None:
    # Octavia's InvalidLimit and InvalidMarker, word for word.
    assert assert_fault(api.get(f"{LBS}?limit=ten"), 400) == (
        "Supplied pagination limit 'ten' is not valid.")
    assert assert_fault(api.get(f"{LBS}?marker=0b7c5d39-1f0e-4a57-9d0c-3f6e2b8a9c11"),
                        400) == ("Supplied pagination marker "
                                 "'0b7c5d39-1f0e-4a57-9d0c-3f6e2b8a9c11' is not valid.")


def test_pagination_max_limit_caps_pages(api: Api) -> None:
    lbs = five(api)
    old = api.cfg.api.pagination_max_limit
    api.cfg.api.pagination_max_limit = 3
    try:
        body = api.expect("GET", LBS, 200)
        assert names(body) == order(lbs[:3]) and link(body, "next") is not None
        assert names(api.expect("GET", f"{LBS}?limit=4", 200)) == order(lbs[:3])
    finally:
        api.cfg.api.pagination_max_limit = old


# --- sorting -----------------------------------------------------------------------

def test_sorting(api: Api) -> None:
    five(api)
    assert names(api.expect("GET", f"{LBS}?sort=name:desc", 200)) == [
        "lb4", "lb3", "lb2", "lb1", "lb0"]
    assert names(api.expect("GET", f"{LBS}?sort=description:asc,name:desc", 200)) == [
        "lb4", "lb2", "lb0", "lb3", "lb1"]
    assert names(api.expect("GET", f"{LBS}?sort=description,name", 200)) == [
        "lb0", "lb2", "lb4", "lb1", "lb3"]
    assert names(api.expect("GET", f"{LBS}?sort_key=name&sort_dir=desc", 200)) == [
        "lb4", "lb3", "lb2", "lb1", "lb0"]
    assert names(api.expect("GET", f"{LBS}?sort=admin_state_up:asc,name:asc", 200)) == [
        "lb3", "lb0", "lb1", "lb2", "lb4"]


def test_sorted_pages(api: Api) -> None:
    lbs = five(api)
    by_id = {lb["id"]: lb["name"] for lb in lbs}
    first = api.expect("GET", f"{LBS}?sort=name:desc&limit=2", 200)
    assert names(first) == ["lb4", "lb3"]
    marker = query(link(first, "next") or "")["marker"][0]
    assert by_id[marker] == "lb3"
    second = api.expect("GET", f"{LBS}?sort=name:desc&limit=2&marker={marker}", 200)
    assert names(second) == ["lb2", "lb1"]


@pytest.mark.parametrize("params, text", [
    ("sort=colour", "colour"), ("sort=name:sideways", "sideways"),
    ("sort_key=bogus", "bogus"), ("sort=tags", "tags"),
    # Relationships, internal columns and Python attributes are not sort keys.
    ("sort=vip", "vip"), ("sort=listeners", "listeners"), ("sort=metadata", "metadata"),
    ("sort=__init__", "__init__"), ("sort=registry", "registry"),
    ("sort=lease_owner", "lease_owner"), ("sort=desired_generation", "desired_generation")])
def test_bad_sort_is_400(api: Api, params: str, text: str) -> None:
    api.create_lb()
    assert_fault(api.get(f"{LBS}?{params}"), 400, text)
    assert_fault(api.get(f"/v2/lbaas/listeners?{params}"), 400, text)


def test_sort_by_api_names(api: Api) -> None:
    lbs = five(api)
    by_time = api.expect("GET", f"{LBS}?sort=created_at:desc,id:desc", 200)
    assert names(by_time) == order(lbs)[::-1]
    lb = lbs[0]
    api.create_listener(lb["id"], protocol_port=81, name="b", connection_limit=5)
    api.create_listener(lb["id"], protocol_port=80, name="a", connection_limit=7)
    listeners = "/v2/lbaas/listeners"
    assert names(api.expect("GET", f"{listeners}?sort=protocol_port", 200), "listeners") == [
        "a", "b"]
    assert names(api.expect("GET", f"{listeners}?sort=connection_limit:desc", 200),
                 "listeners") == ["a", "b"]
    assert names(api.expect("GET", f"{listeners}?sort=loadbalancer_id,name:desc", 200),
                 "listeners") == ["b", "a"]


def test_member_pages(api: Api) -> None:
    ids = api.tree(hm=False, members=0)
    other = api.create_pool(loadbalancer_id=ids["lb"])
    for i in range(4):
        api.create_member(ids["pool"], name=f"m{i}", address=f"192.0.2.{i + 1}")
    api.create_member(other["id"], name="elsewhere")
    path = f"/v2/lbaas/pools/{ids['pool']}/members"
    seen: list[str] = []
    href: str | None = f"{path}?limit=3&sort=name"
    while href:
        body = api.expect("GET", href.replace("http://testserver", ""), 200)
        seen += names(body, "members")
        href = link(body, "next", "members")
        if href:
            assert urlsplit(href).path == path
    assert seen == ["m0", "m1", "m2", "m3"]
    back = api.expect("GET", f"{path}?sort=name&limit=2&page_reverse=True", 200)
    assert names(back, "members") == ["m2", "m3"]


# --- fields ------------------------------------------------------------------------

def test_fields_on_lists(api: Api) -> None:
    lbs = five(api)
    body = api.expect("GET", f"{LBS}?fields=id&fields=name&limit=2", 200)
    assert body["loadbalancers"] == [{"id": lb["id"], "name": lb["name"]} for lb in lbs[:2]]
    assert link(body, "next") is not None


def test_fields_on_every_resource(api: Api) -> None:
    ids = api.tree()
    for path, plural in (("/v2/lbaas/listeners", "listeners"), ("/v2/lbaas/pools", "pools"),
                         (f"/v2/lbaas/pools/{ids['pool']}/members", "members"),
                         ("/v2/lbaas/healthmonitors", "healthmonitors")):
        body = api.expect("GET", f"{path}?fields=provisioning_status", 200)
        assert body[plural] == [{"provisioning_status": "ACTIVE"}], plural
    for kind, key in (("listeners", "listener"), ("pools", "pool"),
                      ("healthmonitors", "hm")):
        body = api.expect("GET", f"/v2/lbaas/{kind}/{ids[key]}?fields=id", 200)
        assert list(body.values()) == [{"id": ids[key]}]
    member = api.expect("GET", f"/v2/lbaas/pools/{ids['pool']}/members/{ids['member']}"
                               f"?fields=address&fields=weight", 200)
    assert member == {"member": {"address": "192.0.2.10", "weight": 1}}


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_paging_through_a_sort_key_with_nulls(api: Api, direction: str) -> None:
    """Objects without a name (NULL in the database) are neither lost nor repeated when
    paging sorted by name, and sort the same way on every database: after the names
    when ascending, before them when descending."""
    named = [api.create_lb(name=n)["id"] for n in ("b", "a", "c")]
    unnamed = sorted(api.create_lb()["id"] for _ in range(3))
    seen: list[str] = []
    href: str | None = f"{LBS}?sort=name:{direction}&limit=2"
    while href:
        body = api.expect("GET", href.replace("http://testserver", ""), 200)
        seen += [lb["id"] for lb in body["loadbalancers"]]
        href = link(body, "next")
        assert len(seen) <= 6
    by_name = dict(zip(("b", "a", "c"), named))
    if direction == "asc":
        expected = [by_name["a"], by_name["b"], by_name["c"]] + unnamed_in_order(api, unnamed)
    else:
        expected = unnamed_in_order(api, unnamed, reverse=True) + [
            by_name["c"], by_name["b"], by_name["a"]]
    assert seen == expected
    # And the previous link walks back to the first page.
    back = api.expect("GET", f"{LBS}?sort=name:{direction}&limit=2&marker={seen[2]}"
                             f"&page_reverse=True", 200)
    assert [lb["id"] for lb in back["loadbalancers"]] == seen[:2]


def unnamed_in_order(api: Api, ids: list[str], reverse: bool = False) -> list[str]:
    """Ties are broken by created_at, then id (in the direction of the first key)."""
    created = {lb["id"]: lb["created_at"] for lb in api.get(LBS).json()["loadbalancers"]}
    return sorted(ids, key=lambda i: (created[i], i), reverse=reverse)
