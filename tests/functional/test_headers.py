"""Request body size limit, CORS, request ids and content negotiation."""
from __future__ import annotations

import json
from typing import Iterator

import pytest

from portus.api.app import create_app
from portus.api.deps import Services

from tests.functional.conftest import Api, assert_fault

LBS = "/v2/lbaas/loadbalancers"


def test_body_over_the_limit_is_413(api: Api) -> None:
    limit = api.cfg.api.max_request_body_size
    assert limit == 1024 * 1024
    body = json.dumps({"loadbalancer": {"name": "x", "description": "y" * (limit + 10)}})
    r = api.post(LBS, content=body, headers={"content-type": "application/json"})
    assert_fault(r, 413, "too large")
    assert r.headers["X-Openstack-Request-Id"].startswith("req-")


def test_chunked_body_over_the_limit_is_413(api: Api) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 65536
        yield b"{}"
    r = api.post(LBS, content=chunks(), headers={"content-type": "application/json"})
    assert_fault(r, 413)


def test_body_under_the_limit_passes(api: Api) -> None:
    r = api.post(LBS, json={"loadbalancer": {"vip_subnet_id": api.subnet_id,
                                             "project_id": "p", "name": "x" * 100}})
    assert r.status_code == 201, r.text


@pytest.fixture
def cors_client(api: Api) -> Iterator[Api]:
    api.cfg.api.cors_allowed_origins = ["https://dash.example.com"]
    try:
        client = Api(create_app(Services(api.cfg, api.db, api.woken.append)), api.db, api.cfg,
                     api.woken)
        with client:
            yield client
    finally:
        api.cfg.api.cors_allowed_origins = []


def test_cors_off_by_default(api: Api) -> None:
    r = api.get(LBS, headers={"Origin": "https://dash.example.com"})
    assert "access-control-allow-origin" not in r.headers


def test_cors_preflight_and_simple(cors_client: Api) -> None:
    r = cors_client.options(LBS, headers={
        "Origin": "https://dash.example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "X-Auth-Token, X-Openstack-Request-Id"})
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == "https://dash.example.com"
    methods = set(r.headers["access-control-allow-methods"].replace(" ", "").split(","))
    assert {"GET", "PUT", "POST", "DELETE"} <= methods
    allowed = r.headers["access-control-allow-headers"].lower()
    assert "x-auth-token" in allowed and "x-openstack-request-id" in allowed
    r = cors_client.get(LBS, headers={"Origin": "https://dash.example.com"})
    assert r.headers["access-control-allow-origin"] == "https://dash.example.com"
    r = cors_client.get(LBS, headers={"Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in r.headers


def test_request_id_and_406(api: Api) -> None:
    r = api.get(LBS)
    assert r.headers["X-Openstack-Request-Id"].startswith("req-")
    r = api.get(LBS, headers={"Accept": "text/html"})
    assert_fault(r, 406)
    assert r.headers["X-Openstack-Request-Id"].startswith("req-")
