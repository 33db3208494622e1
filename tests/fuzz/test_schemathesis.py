"""Fuzz the API with schemathesis from its own OpenAPI document (/v2/openapi.json).

The ASGI app runs in-process on a real (SQLite) database, holding one ACTIVE load balancer
tree so that some generated requests reach existing objects. Every operation in the
document is one test (so pytest-xdist spreads them); each gets a few deterministic
examples. Checks: no 5xx (not_a_server_error) and every documented response matches
the document (response_schema_conformance).

PORTUS_FUZZ_EXAMPLES raises the number of examples per operation for a longer run.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from portus.api.app import create_app
from portus.api.deps import Services
from portus.db import migrate
from portus.db.session import Database
from tests.clients.conftest import Converger, make_config

EXAMPLES = int(os.environ.get("PORTUS_FUZZ_EXAMPLES", "3"))

# Built at import so that each operation becomes its own test item; the database is a
# file of its own, migrated (and seeded) by the session fixture below before any request.
_TMP = Path(tempfile.mkdtemp(prefix="portus-fuzz-"))
_DB = Database.from_url(f"sqlite:///{_TMP / 'fuzz.db'}")
_CFG = make_config(_TMP)
_WORKER = Converger(_DB)
APP = create_app(Services(_CFG, _DB, _WORKER.notify))
# The document as /v2/openapi.json serves it (built directly: on a busy machine, fetching
# it through the ASGI client can exceed the loader's 10 s timeout).
schema = schemathesis.openapi.from_dict(APP.openapi())
schema.app = APP


@pytest.fixture(scope="module", autouse=True)
def _database() -> Iterator[None]:
    migrate.upgrade(_DB.engine)
    _seed()
    yield
    _DB.dispose()
    shutil.rmtree(_TMP, ignore_errors=True)


def _seed() -> None:
    """One converged load balancer with a listener, pool, member and health monitor."""
    from starlette.testclient import TestClient

    with TestClient(APP) as client:
        body = {"loadbalancer": {"name": "seed", "vip_subnet_id": _CFG.network.subnets[0].id,
                                 "project_id": "fuzz", "listeners": [{
                                     "protocol": "HTTP", "protocol_port": 80, "default_pool": {
                                         "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                                         "members": [{"address": "198.18.1.40",
                                                      "protocol_port": 80}],
                                         "healthmonitor": {"type": "HTTP", "delay": 1,
                                                           "timeout": 1, "max_retries": 1}}}]}}
        response = client.post("/v2/lbaas/loadbalancers", json=body)
        assert response.status_code == 201, response.text
    _WORKER.converge_all()


@schema.parametrize()
# Only generated examples (no schemathesis coverage phase or shrinking): bounded and
# deterministic; PORTUS_FUZZ_EXAMPLES=50 for a deeper run.
@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          phases=[Phase.generate], suppress_health_check=list(HealthCheck))
def test_api(case: Any) -> None:
    # A generous timeout: a loaded CI machine is slow, and a slow answer is not a failure.
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance],
                           timeout=120)
    # Whatever the fuzzer changed, the worker applies it, as in production.
    _WORKER.converge_all()
