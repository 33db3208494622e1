"""Tag filters and the other list conventions: limit, api_base_uri links."""
from __future__ import annotations

from typing import Any

import pytest

from tests.functional.conftest import Api, assert_fault

LBS = "/v2/lbaas/loadbalancers"


def names(api: Api, query: str) -> set[str]:
    return {lb["name"] for lb in api.expect("GET", f"{LBS}?{query}", 200)["loadbalancers"]}


@pytest.fixture
def tagged(api: Api) -> Api:
    for name, tags in (("a", ["red", "blue"]), ("b", ["red"]), ("c", ["green"]), ("d", [])):
        api.create_lb(name=name, tags=tags)
    return api


@pytest.mark.parametrize("query,expected", [
    ("tags=red", {"a", "b"}),
    ("tags=red,blue", {"a"}),
    ("tags=red&tags=blue", {"a"}),
    ("tags-any=blue,green", {"a", "c"}),
    ("tags-any=blue&tags-any=green", {"a", "c"}),
    ("not-tags=red,blue", {"b", "c", "d"}),
    ("not-tags-any=red,green", {"d"}),
    ("tags=red&not-tags-any=blue", {"b"}),
    ("tags=nothing", set()),
])
def test_tag_filters(tagged: Api, query: str, expected: set[str]) -> None:
    assert names(tagged, query) == expected


def test_tag_filters_page_in_sql(tagged: Api) -> None:
    page = tagged.expect("GET", f"{LBS}?tags=red&limit=1", 200)
    assert len(page["loadbalancers"]) == 1
    nxt = page["loadbalancers_links"][0]["href"]
    assert "tags=red" in nxt
    rest = tagged.expect("GET", nxt.split("lbaas", 1)[1].join(["/v2/lbaas", ""]), 200)
    assert len(rest["loadbalancers"]) == 1


def test_tag_filters_on_members(api: Api) -> None:
    ids = api.tree(members=0, hm=False)
    api.create_member(ids["pool"], address="192.0.2.1", tags=["x"])
    api.create_member(ids["pool"], address="192.0.2.2", tags=["y"])
    got = api.expect("GET", f"/v2/lbaas/pools/{ids['pool']}/members?tags-any=x", 200)
    assert [mb["address"] for mb in got["members"]] == ["192.0.2.1"]


@pytest.mark.parametrize("limit", ["0", "-1", "infinite", "INFINITE"])
def test_unlimited(api: Api, limit: str) -> None:
    old = api.cfg.api.pagination_max_limit
    api.cfg.api.pagination_max_limit = 2
    try:
        for i in range(3):
            api.create_lb(name=f"lb{i}")
        body = api.expect("GET", f"{LBS}?limit={limit}", 200)
        assert len(body["loadbalancers"]) == 3 and body["loadbalancers_links"] == []
        capped = api.expect("GET", f"{LBS}?limit=50", 200)
        assert len(capped["loadbalancers"]) == 2
        assert_fault(api.get(f"{LBS}?limit=x"), 400)
    finally:
        api.cfg.api.pagination_max_limit = old


def test_links_use_api_base_uri(api: Api) -> None:
    for i in range(2):
        api.create_lb(name=f"lb{i}")
    api.cfg.api.api_base_uri = "https://lb.example.com/load-balancer/"
    try:
        body: Any = api.expect("GET", f"{LBS}?limit=1", 200)
    finally:
        api.cfg.api.api_base_uri = ""
    href = body["loadbalancers_links"][0]["href"]
    assert href.startswith("https://lb.example.com/load-balancer/v2/lbaas/loadbalancers?")


def test_fields_on_show_and_list(api: Api) -> None:
    lb = api.create_lb(name="x")
    listed = api.expect("GET", f"{LBS}?fields=id&fields=name", 200)["loadbalancers"]
    assert listed == [{"id": lb["id"], "name": "x"}]
    shown = api.expect("GET", f"{LBS}/{lb['id']}?fields=name", 200)["loadbalancer"]
    assert shown == {"name": "x"}
