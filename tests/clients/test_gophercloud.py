"""gophercloud, unchanged, against portus over HTTP.

gophercloud is the Go library under Terraform's OpenStack provider and Kubernetes'
cloud-provider-openstack. tests/clients/gophercloud/ is a Go program that builds its
clients the way those tools do and drives a whole scenario (load balancers, listeners,
pools, members and their batch update, health monitors, L7 policies and rules, the
status tree, statistics, quotas, providers, amphorae, failovers, cascade delete),
checking every value it gets back; it exits non-zero at the first failure.

It is built once per run in GOPATH mode, offline, against Debian's gophercloud 0.12
(`make test` installs golang-go and golang-github-gophercloud-gophercloud-dev), and run
against the same server and databases as the openstacksdk tests. The worker of those
tests builds no amphorae; here it also keeps one amphora row per load balancer and
replaces failed ones, as the real worker does, so the admin amphora API has something to
list and fail over.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import itertools
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from portus.common import constants as C
from portus.db import models as m
from portus.db.models import utcnow
from tests.clients.conftest import Portus

SOURCE = Path(__file__).with_name("gophercloud")
GOPATH = "/usr/share/gocode"  # Debian's golang-*-dev packages put their sources here
PROJECT = "p-gophercloud"


def _go_env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GO", "CGO_"))}
    env.update(GO111MODULE="off", GOPATH=GOPATH, GOCACHE=str(cache), GOFLAGS="",
               GOTOOLCHAIN="local", GOPROXY="off")
    if shutil.which("gcc") is None:
        env["CGO_ENABLED"] = "0"  # Go's own resolver; no C compiler needed
    return env


@pytest.fixture(scope="session")
def gophercloud_scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scenario's binary: built once per run (the xdist workers share it)."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("`go` is not installed: `make test` installs golang-go and "
                    "golang-github-gophercloud-gophercloud-dev")
    sources = sorted(SOURCE.glob("*.go"))
    digest = hashlib.sha256(b"".join(p.name.encode() + p.read_bytes() for p in sources))
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's directory, above each worker's own
    binary = shared / f"portus-gophercloud-{digest.hexdigest()[:16]}"
    with open(shared / "gophercloud-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binary.exists():
            partial = binary.with_suffix(".partial")
            proc = subprocess.run([go, "build", "-o", str(partial), "."], cwd=SOURCE,
                                  env=_go_env(shared / "go-cache"), capture_output=True,
                                  text=True, timeout=600)
            assert proc.returncode == 0, f"go build failed:\n{proc.stdout}{proc.stderr}"
            partial.rename(binary)
    return binary


def _amphora_keeper() -> Callable[[Session, m.LoadBalancer], None]:
    """The data plane of the test worker: one ALLOCATED amphora for each load balancer it
    converges, a new one for each that failed (ERROR), none once deleted."""
    addresses = (f"198.18.0.{n}" for n in itertools.count(10))

    def keep(session: Session, lb: m.LoadBalancer) -> None:
        deleting = lb.provisioning_status == C.PENDING_DELETE
        live = False
        for amp in session.execute(sa.select(m.Amphora).where(
                m.Amphora.load_balancer_id == lb.id,
                m.Amphora.status != C.AMP_DELETED)).scalars():
            if deleting or amp.status == C.AMP_ERROR:
                amp.status = C.AMP_DELETED
            else:
                live = True
        if not deleting and not live:
            amp_id = str(uuid.uuid4())
            session.add(m.Amphora(id=amp_id, load_balancer_id=lb.id, status=C.AMP_ALLOCATED,
                                  role=C.ROLE_STANDALONE, lb_network_ip=next(addresses),
                                  compute_id="portus-amp-" + amp_id,
                                  cert_expiration=utcnow() + dt.timedelta(days=30)))

    return keep


@pytest.fixture
def with_amphorae(portus: Portus, monkeypatch: pytest.MonkeyPatch) -> Portus:
    monkeypatch.setattr(portus.worker, "data_plane", _amphora_keeper())
    return portus


def test_gophercloud_scenario(with_amphorae: Portus, gophercloud_scenario: Path) -> None:
    portus = with_amphorae
    member_subnet = portus.cfg.network.subnets[1]
    started = time.monotonic()
    proc = subprocess.run(
        [str(gophercloud_scenario), "-endpoint", portus.url, "-subnet", portus.subnet.id,
         "-member-subnet", member_subnet.id, "-project", PROJECT, "-timeout", "20s",
         "-poll", "20ms"],
        capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if not k.startswith("PORTUS_")})
    took = time.monotonic() - started
    assert proc.returncode == 0, (
        f"gophercloud scenario failed on {portus.backend} after {took:.1f}s:\n"
        f"{proc.stderr.strip()}\n--- last steps:\n{proc.stdout[-2000:]}\n"
        f"worker errors: {portus.worker.errors[-3:]}")
    print(proc.stdout)
    assert "checks passed" in proc.stdout.splitlines()[-1], proc.stdout[-2000:]
