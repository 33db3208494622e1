"""The OpenAPI document (portus.api.responses): every operation is described, and the
response schemas follow the request schemas they derive from."""
from __future__ import annotations

from typing import Any, get_args

import pytest
from pydantic import BaseModel, create_model

from portus.api import response_models as rm, responses, schemas as s
from portus.api.app import create_app
from portus.api.deps import Services
from portus.db.session import Database
from tests.clients.conftest import make_config


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("openapi")
    app = create_app(Services(make_config(tmp), Database.from_url(f"sqlite:///{tmp}/x.db"),
                              lambda _lb_id: None))
    return app.openapi()  # type: ignore[no-any-return]


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in doc["paths"].items()
            for method, op in ops.items()]


def test_every_operation_is_described(doc: dict[str, Any]) -> None:
    undescribed = []
    for method, path, op in _operations(doc):
        success = [c for c in op["responses"] if c.startswith("2")]
        assert len(success) == 1, (method, path, success)
        has_body = "content" in op["responses"][success[0]]
        key = (method, responses.normalized(path))
        if has_body and responses._success(*key) is None and key not in responses.RAW:
            undescribed.append(f"{method.upper()} {path}")
    assert undescribed == [], "add these to portus.api.responses FAMILIES, EXTRA or RAW"


def test_success_codes_are_the_routes(doc: dict[str, Any]) -> None:
    codes = {(m, p): next(c for c in op["responses"] if c.startswith("2"))
             for m, p, op in _operations(doc)}
    lb = "/v2/lbaas"
    assert codes[("post", lb + "/loadbalancers")] == "201"
    assert codes[("delete", lb + "/listeners/{listener_id}")] == "204"
    assert codes[("put", lb + "/quotas/{project_id}")] == "202"
    assert codes[("delete", lb + "/quotas/{project_id}")] == "202"
    assert codes[("put", "/v2/octavia/amphorae/{amphora_id}/failover")] == "202"
    assert codes[("get", "/")] == "200"


def test_errors_are_those_the_operation_can_give(doc: dict[str, Any]) -> None:
    def errors(method: str, path: str) -> set[str]:
        return {c for c in doc["paths"][path][method]["responses"] if c >= "400"}

    lb = "/v2/lbaas"
    assert errors("get", lb + "/loadbalancers") == {"400", "401", "403", "406", "500"}
    assert errors("get", lb + "/loadbalancers/{lb_id}") == {"401", "403", "404", "406", "500"}
    assert errors("post", lb + "/loadbalancers") == {
        "400", "401", "403", "406", "409", "413", "500", "501", "503"}
    assert errors("delete", lb + "/listeners/{listener_id}") == {
        "401", "403", "404", "406", "409", "500", "503"}
    assert errors("get", "/networking/v2.0/subnets/{subnet_id}") == {"401", "404", "406", "500"}
    assert errors("get", "/") == {"406", "500"}  # no authentication on the version document
    assert "404" not in errors("get", lb + "/quotas/{project_id}")


def test_responses_take_types_and_enums_from_the_request_schemas(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert schemas["Listener"]["properties"]["protocol"]["enum"] == list(
        get_args(s.ListenerProtocol))
    assert schemas["HealthMonitor"]["properties"]["type"]["enum"] == list(get_args(s.HMType))
    assert schemas["Pool"]["properties"]["lb_algorithm"]["enum"] == list(get_args(s.Algorithm))
    for response, request, skipped in (
            ("Listener", s.ListenerPOST, {"loadbalancer_id", "default_pool", "l7policies"}),
            ("Pool", s.PoolPOST, {"loadbalancer_id", "listener_id", "members", "healthmonitor"}),
            ("Member", s.MemberSingle, {"request_sriov"}), ("L7Rule", s.L7RuleSingle, set())):
        assert set(request.model_fields) - skipped <= set(schemas[response]["required"])


def test_a_request_field_overrides_a_provisional_response_field() -> None:
    """A TLS attribute shown before requests accept it takes the request's type once
    they do (the lead's TLS fields, a new protocol: no edit of the response models)."""
    request = create_model("Req", tls_versions=(list[str] | None, None),
                           protocol=(s.ListenerProtocol, ...))
    model = rm.body("Probe", "", rm.settable(request), rm.required(tls_versions=int))
    assert model.model_fields["tls_versions"].annotation == list[str] | None
    assert issubclass(model, BaseModel) and model.model_fields["protocol"].is_required()
