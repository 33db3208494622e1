"""Client tests: real Octavia clients (openstacksdk, `openstack loadbalancer ...`) against
portus served over real HTTP, without Keystone and without Neutron.

The API runs under uvicorn in a background thread on 127.0.0.1 (a free port), on a
private database of this xdist worker, on each database of the functional tests
(SQLite, PostgreSQL and MariaDB; PORTUS_TEST_DATABASES narrows, see
tests/functional/conftest.py). A background `Converger` plays the worker with the noop-provider idea (no
amphorae): shortly after the API wakes it for a load balancer, the pending generation
is marked applied (ACTIVE) or the load balancer DELETED, as a real worker would once
the amphorae run the desired state.
"""
from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import sqlalchemy as sa

from portus.api.app import create_app
from portus.api.deps import Services
from portus.common import constants as C
from portus.common.config import Config, load
from portus.db import migrate, models as m, status
from portus.db.session import Database
from tests.functional.conftest import BACKENDS, database_name, empty_tables, private_database

OPENSTACK = str(Path(sys.executable).with_name("openstack"))
# A second subnet, so tests can tell names and ids of several subnets apart.
SUBNETS = [
    {"name": "demo", "cidr": "198.18.1.0/24", "bridge": "portus-demo"},
    {"name": "backends", "cidr": "198.18.2.0/24", "bridge": "portus-be"},
]


def make_config(tmp: Path) -> Config:
    """portus's configuration with the subnets above, and nothing from the machine."""
    toml = tmp / "portus.toml"
    toml.write_text("".join(
        "[[network.subnets]]\n" + "".join(f'{k} = "{v}"\n' for k, v in sn.items())
        for sn in SUBNETS))
    return load(str(toml), environ={}, overrides={"data_dir": str(tmp / "data")})


# --- the worker ----------------------------------------------------------------------

class Converger:
    """Plays the worker: converges every load balancer with something pending, `delay`
    seconds after a wake-up (and on a periodic sweep, as the real worker does)."""

    def __init__(self, db: Database, delay: float = 0.05, sweep: float = 0.2) -> None:
        self.db = db
        self.delay = delay
        self.sweep = sweep
        self.woken: queue.Queue[str] = queue.Queue()
        self.errors: list[str] = []  # what converging raised (the last few)
        # Called with each load balancer in the transaction that converges it, before it
        # is marked ACTIVE or DELETED: where a test plays the data plane (amphora rows).
        self.data_plane: Callable[[Any, m.LoadBalancer], None] | None = None
        self._paused = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Lock()  # held while converging
        self._thread = threading.Thread(target=self._run, name="converger", daemon=True)

    def notify(self, lb_id: str) -> None:
        self.woken.put(lb_id)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Nothing converges inside the block (objects stay PENDING_*)."""
        self._paused.set()
        with self._idle:
            pass
        try:
            yield
        finally:
            self._paused.clear()
            self.woken.put("")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.woken.get(timeout=self.sweep)
                time.sleep(self.delay)
            except queue.Empty:
                pass
            if self._paused.is_set():
                continue
            with self._idle:
                if self._paused.is_set():
                    continue
                try:
                    self.converge_all()
                except Exception as exc:  # noqa: BLE001 - kept, shown if a test waits in vain
                    self.errors.append(repr(exc))

    def converge_all(self) -> None:
        with self.db.read() as session:
            pending = session.execute(sa.select(m.LoadBalancer.id).where(
                m.LoadBalancer.provisioning_status.in_(C.PENDING_STATUSES))).scalars().all()
        for lb_id in pending:
            with self.db.write() as session:
                lb = session.get(m.LoadBalancer, lb_id)
                if lb is None or lb.provisioning_status not in C.PENDING_STATUSES:
                    continue
                if self.data_plane is not None:
                    self.data_plane(session, lb)
                if lb.provisioning_status == C.PENDING_DELETE:
                    status.mark_deleted(session, lb_id)
                else:
                    status.finish_generation(session, lb_id, lb.desired_generation)


# --- the server ----------------------------------------------------------------------

class Portus:
    """The API over HTTP at `url`, its database, configuration and worker."""

    def __init__(self, url: str, db: Database, cfg: Config, worker: Converger) -> None:
        self.url = url
        self.db = db
        self.cfg = cfg
        self.worker = worker

    @property
    def subnet(self) -> Any:
        return self.cfg.network.subnets[0]

    @property
    def backend(self) -> str:
        name = self.db.engine.dialect.name
        return {"mysql": "mariadb"}.get(name, name)

    def lb_status(self, lb_id: str) -> str | None:
        with self.db.read() as session:
            value = session.execute(sa.select(m.LoadBalancer.provisioning_status)
                                    .where(m.LoadBalancer.id == lb_id)).scalar_one_or_none()
        return None if value is None else str(value)

    def wait_active(self, lb_id: str, timeout: float = 10.0) -> None:
        """Until the load balancer is ACTIVE (or gone, after a delete)."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.lb_status(lb_id)
            if state in (C.ACTIVE, C.DELETED, None):
                return
            assert state != C.ERROR, f"load balancer {lb_id} went to ERROR"
            assert time.monotonic() < deadline, (f"load balancer {lb_id} stuck in {state}; "
                                                 f"worker errors: {self.worker.errors[-3:]}")
            time.sleep(0.02)

    def settle(self, timeout: float = 10.0) -> None:
        """Until nothing is pending anywhere."""
        deadline = time.monotonic() + timeout
        while True:
            with self.db.read() as session:
                pending = session.execute(sa.select(sa.func.count()).select_from(m.LoadBalancer)
                                          .where(m.LoadBalancer.provisioning_status.in_(
                                              C.PENDING_STATUSES))).scalar_one()
            if not pending:
                return
            assert time.monotonic() < deadline, (f"{pending} load balancers stay pending; "
                                                 f"worker errors: {self.worker.errors[-3:]}")
            time.sleep(0.02)


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """`app` under uvicorn in a background thread; yields its base URL."""
    import uvicorn

    sock = _free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="session", params=BACKENDS)
def _portus(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portus]:
    backend: str = request.param
    tmp = tmp_path_factory.mktemp(f"clients-{backend}")
    with private_database(backend, database_name("cl"), tmp) as db_url:
        db = Database.from_url(db_url)
        migrate.upgrade(db.engine)
        cfg = make_config(tmp)
        worker = Converger(db)
        worker.start()
        try:
            with serve(create_app(Services(cfg, db, worker.notify))) as url:
                yield Portus(url, db, cfg, worker)
        finally:
            worker.stop()
            db.dispose()


@pytest.fixture
def portus(_portus: Portus) -> Portus:
    """portus over HTTP on an emptied database, with its worker running."""
    with _portus.worker.paused():
        empty_tables(_portus.db)
    return _portus


# --- the clients ---------------------------------------------------------------------

@pytest.fixture
def sdk(portus: Portus) -> Any:
    """An openstacksdk Connection with no Keystone: every service at portus's URL."""
    import openstack

    return openstack.connection.Connection(
        auth_type="none", auth={"endpoint": portus.url},
        load_balancer_endpoint_override=portus.url + "/v2.0/")


def cli_command(url: str, *args: str) -> list[str]:
    """The `openstack` command line that reaches portus without Keystone or Neutron."""
    return [OPENSTACK, "--os-auth-type", "none", "--os-endpoint", url, *args]


class CLIError(Exception):
    def __init__(self, args: tuple[str, ...], returncode: int, stderr: str) -> None:
        super().__init__(f"openstack {' '.join(args)} -> {returncode}: {stderr.strip()}")
        self.returncode = returncode
        self.stderr = stderr


CLI = Callable[..., Any]


class _Runner:
    """One long-lived child that runs `openstack` commands (tests/clients/cli_runner.py)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.clients.cli_runner"], env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=str(Path(__file__).parents[2]))
        self.lock = threading.Lock()

    def run(self, argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with self.lock:
            self.proc.stdin.write(json.dumps({"argv": argv, "env": env}) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        assert line, "the CLI runner died"
        answer = json.loads(line)
        return int(answer["rc"]), str(answer["stdout"]), str(answer["stderr"])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _clean_env() -> dict[str, str]:
    """Nothing from the machine's clouds.yaml or OS_* variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith("OS_")}


@pytest.fixture(scope="session")
def _cli_runner(_portus: Portus) -> Iterator[_Runner | None]:
    """One runner per server: the CLI's libraries remember endpoints across commands,
    so a runner must not outlive the server (each database has its own)."""
    if os.environ.get("PORTUS_CLI_FRESH"):
        yield None
        return
    runner = _Runner(_clean_env())
    try:
        yield runner
    finally:
        runner.close()


def run_openstack(url: str, args: list[str], env: dict[str, str] | None = None,
                  runner: _Runner | None = None) -> tuple[int, str, str]:
    """Runs `openstack --os-auth-type none --os-endpoint URL <args>`: in the runner if
    given, else as a new `openstack` process."""
    argv = cli_command(url, *args)
    if runner is not None:
        return runner.run(argv[1:], env or {})
    proc = subprocess.run(argv, env={**_clean_env(), **(env or {})}, capture_output=True,
                          text=True, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def cli(portus: Portus, _cli_runner: _Runner | None) -> CLI:
    """cli("loadbalancer", "show", id) runs `openstack ... -f json` and returns the parsed
    output (None for commands that print nothing); raises CLIError on failure. Pass
    json_out=False for commands that take no -f (set, unset, delete, status show) and
    env={...} for extra environment variables."""

    def run(*args: str, json_out: bool = True, env: dict[str, str] | None = None) -> Any:
        full = list(args) + (["-f", "json"] if json_out else [])
        rc, out, err = run_openstack(portus.url, full, env, _cli_runner)
        if rc != 0:
            raise CLIError(args, rc, err)
        out = out.strip()
        return json.loads(out) if out else None

    return run
