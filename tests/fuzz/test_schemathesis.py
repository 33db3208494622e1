"""Fuzz the API with schemathesis from its own OpenAPI document (/v2/openapi.json), on
every database of the functional tests (PORTUS_TEST_DATABASES narrows).

Per database, the ASGI app runs in-process on a private database of this xdist worker,
holding one ACTIVE load balancer tree so that some generated requests reach existing
objects. Every operation of the document is one test per database (so pytest-xdist
spreads them), each with a few deterministic examples: PORTUS_FUZZ_EXAMPLES (3) on
SQLite, a third of that (at least one) on PostgreSQL and MariaDB, where the handlers
and the document are the same and only the database differs. Checks: no 5xx, the
status code is one the document lists for the operation, and the body matches the
document, strictly (tests/openapi_conformance.py).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (response_schema_conformance,
                                               status_code_conformance)

from portus.api.app import create_app
from portus.api.deps import Services
from portus.db import migrate
from portus.db.session import Database
from tests.clients.conftest import Converger, make_config
from tests.functional.conftest import BACKENDS, database_name, database_url, private_database
from tests.openapi_conformance import Conformance

EXAMPLES = int(os.environ.get("PORTUS_FUZZ_EXAMPLES", "3"))
_TMP = Path(tempfile.mkdtemp(prefix="portus-fuzz-"))
_CFG = make_config(_TMP)


def examples(backend: str) -> int:
    return EXAMPLES if backend == "sqlite" else max(1, EXAMPLES // 3)


class Target:
    """The API on one database. Built at import, so that each operation becomes its own
    test item; the database itself is created (and seeded) by `databases` before the
    first request (the engine connects only then)."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.name = database_name("fz")
        self.db = Database.from_url(database_url(backend, self.name, _TMP))
        self.worker = Converger(self.db)
        self.app = create_app(Services(_CFG, self.db, self.worker.notify))
        # The document as /v2/openapi.json serves it (built directly: on a busy machine,
        # fetching it through the ASGI client can exceed the loader's 10 s timeout).
        document = self.app.openapi()
        self.conformance = Conformance(document)
        self.schema = schemathesis.openapi.from_dict(document)
        self.schema.app = self.app

    def seed(self) -> None:
        """One converged load balancer with a listener, pool, member and health monitor."""
        from starlette.testclient import TestClient

        with TestClient(self.app) as client:
            body = {"loadbalancer": {
                "name": "seed", "vip_subnet_id": _CFG.network.subnets[0].id,
                "project_id": "fuzz", "listeners": [{
                    "protocol": "HTTP", "protocol_port": 80, "default_pool": {
                        "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                        "members": [{"address": "198.18.1.40", "protocol_port": 80}],
                        "healthmonitor": {"type": "HTTP", "delay": 1, "timeout": 1,
                                          "max_retries": 1}}}]}}
            response = client.post("/v2/lbaas/loadbalancers", json=body)
            assert response.status_code == 201, response.text
        self.worker.converge_all()


TARGETS = {backend: Target(backend) for backend in BACKENDS}


@pytest.fixture(scope="module")
def databases() -> Iterator[Callable[[str], Target]]:
    """databases(backend): that target, its database created, migrated and seeded on
    first use; every one is dropped at the end of the module."""
    with ExitStack() as stack:
        ready: set[str] = set()

        def ensure(backend: str) -> Target:
            target = TARGETS[backend]
            if backend not in ready:
                stack.enter_context(private_database(backend, target.name, _TMP))
                stack.callback(target.db.dispose)  # before the drop (last in, first out)
                migrate.upgrade(target.db.engine)
                target.seed()
                ready.add(backend)
            return target

        yield ensure
    shutil.rmtree(_TMP, ignore_errors=True)


def _fuzz(backend: str) -> Callable[..., None]:
    def test(case: Any, databases: Callable[[str], Target]) -> None:
        target = databases(backend)
        # A generous timeout: a loaded CI machine is slow, and a slow answer is not a failure.
        response = case.call_and_validate(
            checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
            timeout=120)
        target.conformance.check(case.method, urlsplit(response.request.url).path,
                                 response.status_code, response.content)
        # Whatever the fuzzer changed, the worker applies it, as in production.
        target.worker.converge_all()

    test.__name__ = f"test_api_{backend}"
    # Only generated examples (no coverage phase or shrinking): bounded and deterministic.
    return TARGETS[backend].schema.parametrize()(settings(  # type: ignore[no-any-return]
        max_examples=examples(backend), derandomize=True, deadline=None, database=None,
        phases=[Phase.generate], suppress_health_check=list(HealthCheck))(test))


for _backend in BACKENDS:
    globals()[f"test_api_{_backend}"] = _fuzz(_backend)
