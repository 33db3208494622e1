"""Functional tests: the API on a real database, on SQLite, PostgreSQL and MariaDB.

Every test that uses `api` (or `database`) runs once per backend. Each pytest-xdist
worker creates its own private database on each server, runs the real Alembic
migrations once, and empties the tables before every test. PostgreSQL and MariaDB
must be reachable: a missing server fails the run (CI must never skip a database
silently) unless PORTUS_TEST_DATABASES narrows the list, e.g. "sqlite" or
"sqlite,postgresql".

Server addresses default to the local ones and can be changed with
PORTUS_TEST_POSTGRESQL_URL and PORTUS_TEST_MARIADB_URL (a URL without a database).
"""
from __future__ import annotations

import os
import uuid
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from portus.api.app import create_app
from portus.api.deps import Services
from portus.common import constants as C
from portus.common import config
from portus.common.config import Config, SubnetConfig, load
from portus.db import migrate, models as m, status
from portus.db.session import Database
from tests.openapi_conformance import Conformance

with warnings.catch_warnings():
    # Starlette nags about httpx vs httpx2 on import; it changes nothing here.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ALL_BACKENDS = ("sqlite", "postgresql", "mariadb")
_ALIASES = {"postgres": "postgresql", "pg": "postgresql", "mysql": "mariadb"}
SERVER_URLS = {
    "postgresql": os.environ.get("PORTUS_TEST_POSTGRESQL_URL",
                                 "postgresql+psycopg://postgres@127.0.0.1:5432"),
    "mariadb": os.environ.get("PORTUS_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306"),
}
_ADMIN_DB = {"postgresql": "postgres", "mariadb": ""}
_CONNECT_TIMEOUT = 5


def selected_backends() -> tuple[str, ...]:
    raw = os.environ.get("PORTUS_TEST_DATABASES", "").strip()
    if not raw:
        return ALL_BACKENDS
    chosen = []
    for word in raw.replace(" ", ",").split(","):
        if not word:
            continue
        name = _ALIASES.get(word.lower(), word.lower())
        if name not in ALL_BACKENDS:
            raise pytest.UsageError(f"PORTUS_TEST_DATABASES: unknown database {word!r} "
                                    f"(choose from {', '.join(ALL_BACKENDS)})")
        if name not in chosen:
            chosen.append(name)
    return tuple(chosen)


BACKENDS = selected_backends()

# One name per xdist worker and per run, so parallel workers (and two runs on the same
# machine) never share a database.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
_RUN = (os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex)[:8]


def database_name(purpose: str) -> str:
    return f"portus_{purpose}_{_WORKER}_{_RUN}".lower()


# --- private databases -------------------------------------------------------------

_UNREACHABLE: dict[str, str] = {}  # backend -> why, so later tests fail at once


def _admin_engine(backend: str) -> Engine:
    url = make_url(SERVER_URLS[backend]).set(database=_ADMIN_DB[backend])
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool,
                              connect_args={"connect_timeout": _CONNECT_TIMEOUT})
    reason = _UNREACHABLE.get(backend)
    if reason is None:
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except SQLAlchemyError as exc:
            engine.dispose()
            first_line = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            reason = _UNREACHABLE[backend] = first_line
    if reason is not None:
        pytest.fail(
            f"{backend} is not reachable at {url.render_as_string(hide_password=True)}: "
            f"{reason}\nThe functional tests run on SQLite, PostgreSQL and MariaDB. Start the "
            f"server, point PORTUS_TEST_{backend.upper()}_URL at it, or narrow the run with "
            f"PORTUS_TEST_DATABASES=sqlite.", pytrace=False)
    return engine


def _quote(backend: str, name: str) -> str:
    return f'"{name}"' if backend == "postgresql" else f"`{name}`"


def _drop(conn: Any, backend: str, name: str) -> None:
    force = " WITH (FORCE)" if backend == "postgresql" else ""
    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {_quote(backend, name)}{force}")


def database_url(backend: str, name: str, tmp: Path) -> str:
    """The URL private_database(backend, name, tmp) yields (known before it exists)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp / (name + '.db')}"
    return make_url(SERVER_URLS[backend]).set(database=name).render_as_string(
        hide_password=False)


@contextmanager
def private_database(backend: str, name: str, tmp: Path) -> Iterator[str]:
    """An empty database of its own; yields its URL and drops it afterwards."""
    if backend == "sqlite":
        yield database_url(backend, name, tmp)
        return
    admin = _admin_engine(backend)
    try:
        with admin.connect() as conn:
            _drop(conn, backend, name)
            extra = " CHARACTER SET utf8mb4" if backend == "mariadb" else ""
            conn.exec_driver_sql(f"CREATE DATABASE {_quote(backend, name)}{extra}")
        try:
            yield database_url(backend, name, tmp)
        finally:
            with admin.connect() as conn:
                _drop(conn, backend, name)
    finally:
        admin.dispose()


# --- the database and the API ------------------------------------------------------

@pytest.fixture(scope="session", params=BACKENDS)
def database(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A migrated database of this worker on one backend, for the whole session."""
    backend: str = request.param
    with private_database(backend, database_name("ft"),
                          tmp_path_factory.mktemp(f"db-{backend}")) as url:
        db = Database.from_url(url)
        try:
            migrate.upgrade(db.engine)
            yield db
        finally:
            db.dispose()


@pytest.fixture(params=BACKENDS)
def blank_database(request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """An engine on a new, empty database (no tables), dropped after the test."""
    backend: str = request.param
    with private_database(backend, database_name("mig"),
                          tmp_path_factory.mktemp(f"blank-{backend}")) as url:
        db = Database.from_url(url)
        try:
            yield db.engine
        finally:
            db.dispose()


def empty_tables(db: Database) -> None:
    """Delete every row (much faster than migrating again)."""
    with db.engine.begin() as conn:
        conn.execute(m.Base.metadata.tables["listener"].update().values(default_pool_id=None))
        for table in reversed(m.Base.metadata.sorted_tables):
            conn.execute(table.delete())


def row_counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {table.name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for table in m.Base.metadata.sorted_tables}


def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to show that a refused request changed nothing."""
    with db.engine.connect() as conn:
        return {table.name: sorted((tuple(row) for row in conn.execute(sa.select(table))), key=repr)
                for table in m.Base.metadata.sorted_tables}


def converge(db: Database, lb_id: str) -> None:
    """Do what the worker does once the amphorae run the desired state: the load
    balancer being deleted goes DELETED, anything else finishes its generation."""
    with db.write() as session:
        lb = session.get(m.LoadBalancer, lb_id)
        assert lb is not None, f"no load balancer {lb_id}"
        if lb.provisioning_status == C.PENDING_DELETE:
            status.mark_deleted(session, lb_id)
        else:
            assert status.finish_generation(session, lb_id, lb.desired_generation)


def fail(db: Database, lb_id: str, reason: str = "boom") -> None:
    """What the worker does when a load balancer cannot converge."""
    with db.write() as session:
        status.fail_generation(session, lb_id, reason)


def assert_fault(response: Any, code: int, *fragments: str) -> str:
    """The response is an Octavia (WSME) fault with this code; returns its faultstring."""
    assert response.status_code == code, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"faultcode", "faultstring", "debuginfo"}, body
    assert body["faultcode"] == ("Client" if code < 500 else "Server")
    assert body["debuginfo"] is None
    assert isinstance(body["faultstring"], str) and body["faultstring"]
    for fragment in fragments:
        assert fragment in body["faultstring"], (fragment, body["faultstring"])
    return str(body["faultstring"])


class Api(TestClient):
    """The API on one backend, plus shortcuts to build trees and play the worker."""

    def __init__(self, app: Any, db: Database, cfg: Config, woken: list[str]) -> None:
        super().__init__(app)
        self.db = db
        self.cfg = cfg
        self.woken = woken
        self.conformance = Conformance(app.openapi())

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
        """Every response is also checked against the published OpenAPI document."""
        response = super().request(method, url, *args, **kwargs)
        self.conformance.check(method, response.request.url.path, response.status_code,
                               response.content)
        return response

    @property
    def backend(self) -> str:
        return {"mysql": "mariadb"}.get(self.db.engine.dialect.name, self.db.engine.dialect.name)

    @property
    def subnet_id(self) -> str:
        return self.cfg.network.subnets[0].id

    def expect(self, method: str, path: str, code: int, body: Any = None,
               **kwargs: Any) -> Any:
        response = self.request(method, path, json=body, **kwargs)
        assert response.status_code == code, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    # -- the worker --------------------------------------------------------------
    def converge(self, lb_id: str) -> None:
        converge(self.db, lb_id)

    def settle(self) -> None:
        """Converge every load balancer that has something pending."""
        with self.db.read() as session:
            pending = session.execute(sa.select(m.LoadBalancer.id).where(
                m.LoadBalancer.provisioning_status.in_(C.PENDING_STATUSES))).scalars().all()
        for lb_id in pending:
            self.converge(lb_id)

    def lb_status(self, lb_id: str) -> str:
        with self.db.read() as session:
            value = session.execute(sa.select(m.LoadBalancer.provisioning_status)
                                    .where(m.LoadBalancer.id == lb_id)).scalar_one()
        return str(value)

    # -- building blocks (each returns the created object, ACTIVE unless settle=False)
    def create_lb(self, settle: bool = True, **fields: Any) -> dict[str, Any]:
        body = {"vip_subnet_id": self.subnet_id, "project_id": "p1", **fields}
        lb = self.expect("POST", "/v2/lbaas/loadbalancers", 201, {"loadbalancer": body})
        if settle:
            self.converge(lb["loadbalancer"]["id"])
        return lb["loadbalancer"]  # type: ignore[no-any-return]

    def create_listener(self, lb_id: str, settle: bool = True, **fields: Any) -> dict[str, Any]:
        body = {"loadbalancer_id": lb_id, "protocol": "HTTP", "protocol_port": 80, **fields}
        out = self.expect("POST", "/v2/lbaas/listeners", 201, {"listener": body})
        if settle:
            self.converge(lb_id)
        return out["listener"]  # type: ignore[no-any-return]

    def create_pool(self, settle: bool = True, **fields: Any) -> dict[str, Any]:
        body = {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", **fields}
        out = self.expect("POST", "/v2/lbaas/pools", 201, {"pool": body})
        if settle:
            self.converge(out["pool"]["loadbalancers"][0]["id"])
        return out["pool"]  # type: ignore[no-any-return]

    def create_member(self, pool_id: str, settle: bool = True, **fields: Any) -> dict[str, Any]:
        body = {"address": "192.0.2.10", "protocol_port": 8080, **fields}
        out = self.expect("POST", f"/v2/lbaas/pools/{pool_id}/members", 201, {"member": body})
        if settle:
            self.settle()
        return out["member"]  # type: ignore[no-any-return]

    def create_hm(self, pool_id: str, settle: bool = True, **fields: Any) -> dict[str, Any]:
        body = {"pool_id": pool_id, "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 2,
                **fields}
        out = self.expect("POST", "/v2/lbaas/healthmonitors", 201, {"healthmonitor": body})
        if settle:
            self.settle()
        return out["healthmonitor"]  # type: ignore[no-any-return]

    def tree(self, hm: bool = True, members: int = 1, protocol: str = "HTTP") -> dict[str, str]:
        """An ACTIVE load balancer "lb" with a listener "web" on port 80 whose default pool
        "pool" has `members` members (m1, m2, ... at 192.0.2.10, .11, ... port 8080) and,
        by default, a health monitor "hm"; built in one fully populated create. Returns
        the ids (lb, listener, pool, member (the first), hm)."""
        pool: dict[str, Any] = {
            "name": "pool", "protocol": protocol, "lb_algorithm": "ROUND_ROBIN",
            "members": [{"name": f"m{i + 1}", "address": f"192.0.2.{10 + i}",
                         "protocol_port": 8080} for i in range(members)]}
        if hm:
            hm_type = {"HTTP": "HTTP", "UDP": "UDP-CONNECT", "SCTP": "SCTP"}.get(protocol, "TCP")
            pool["healthmonitor"] = {"name": "hm", "type": hm_type,
                                     "delay": 5, "timeout": 3, "max_retries": 2}
        listener_protocol = protocol if protocol in ("HTTP", "UDP", "SCTP") else "TCP"
        listener = {"name": "web", "protocol": listener_protocol,
                    "protocol_port": 80, "default_pool": pool}
        lb = self.create_lb(name="lb", listeners=[listener])
        created = lb["pools"][0]
        ids = {"lb": lb["id"], "listener": lb["listeners"][0]["id"], "pool": created["id"]}
        if members:
            ids["member"] = created["members"][0]["id"]
        if hm:
            ids["hm"] = created["healthmonitor"]["id"]
        return ids

    def show(self, kind: str, obj_id: str, pool_id: str | None = None) -> dict[str, Any]:
        path = (f"/v2/lbaas/pools/{pool_id}/members/{obj_id}" if kind == "member"
                else f"/v2/lbaas/{kind}s/{obj_id}")
        return self.expect("GET", path, 200)[kind]  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def _session_api(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    data_dir = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as patch:
        # Hermetic: no /etc/portus/portus.toml of the machine running the tests.
        patch.setattr(config, "DEFAULT_CONFIG_PATHS", ())
        cfg = load(environ={}, overrides={"data_dir": str(data_dir)})
    # Octavia's 409-while-PENDING behaviour, which most tests assert; test_pending_lock
    # switches it off for the default (relaxed) mode.
    cfg.api.strict_pending_lock = True
    woken: list[str] = []
    client = Api(create_app(Services(cfg, database, woken.append)), database, cfg, woken)
    with client:
        yield client


@pytest.fixture
def api(_session_api: Api) -> Api:
    """A TestClient on the API over an emptied database; `api.woken` lists the load
    balancer ids the API woke the worker for."""
    empty_tables(_session_api.db)
    _session_api.woken.clear()
    return _session_api


@pytest.fixture
def db(api: Api) -> Database:
    return api.db


@pytest.fixture
def second(api: Api) -> Iterator[SubnetConfig]:
    """A second subnet (on a network of its own) for the test's duration."""
    other = SubnetConfig(name="second", cidr="198.51.100.0/24")
    other.finish(1)
    api.cfg.network.subnets.append(other)
    try:
        yield other
    finally:
        api.cfg.network.subnets.remove(other)
