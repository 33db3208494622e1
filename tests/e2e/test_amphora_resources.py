"""Compute flavors on real amphorae: each amphora's processes run in a control group
with the flavor's CPU and memory limits, its metrics are the group's, and the group
goes with the amphora."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import openstack
import pytest

from portus.amphora import cgroup
from tests.e2e.harness import (CGROUPS, COMPUTE_FLAVOR, PROJECT, PortusLab, wait_active,
                               wait_for)
from tests.e2e.test_ping_prometheus import _curl

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(CGROUPS is None, reason="no cgroup cpu and memory controllers")]

# Joins the group, then spends 0.2 s of CPU (CPU time, not wall time: the machine
# may be busy).
BURN = """
import os, sys, time
from portus.amphora import cgroup
cgroup.join(cgroup.open_dirs(dict(a.split("=", 1) for a in sys.argv[1:])), os.getpid())
start = time.process_time()
while time.process_time() - start < 0.2:
    pass
"""


def _groups_of(pid: int) -> set[str]:
    """The cgroup paths of a process, one per hierarchy line."""
    return {line.split(":", 2)[2] for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()}


def test_compute_flavor_limits_the_amphora(lab: PortusLab,
                                           sdk: openstack.connection.Connection) -> None:
    assert CGROUPS is not None
    profile = sdk.load_balancer.create_flavor_profile(
        name="small", provider_name="amphora",
        flavor_data=json.dumps({"compute_flavor": COMPUTE_FLAVOR}))
    flavor = sdk.load_balancer.create_flavor(name="small", flavor_profile_id=profile.id,
                                             enabled=True)
    be = lab.backend("a", 0)
    lb = sdk.load_balancer.create_load_balancer(
        name="small", project_id=PROJECT, vip_subnet_id=lab.subnet.id, flavor_id=flavor.id,
        listeners=[{"name": "http", "protocol": "HTTP", "protocol_port": 80, "default_pool": {
                       "name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                       "members": [{"address": be.address, "protocol_port": be.port}]}},
                   {"name": "prom", "protocol": "PROMETHEUS", "protocol_port": 9100}])
    wait_active(sdk, lb.id)
    wait_for("traffic", lambda: lab.get(lb.vip_address) == "hello from a", 20)
    [namespace] = lab.amphora_namespaces()
    dirs = cgroup.group_dirs(CGROUPS, f"portus/{namespace}")
    fds = cgroup.open_dirs(dirs)
    try:
        _check_group(lab, sdk, lb, namespace, dirs, cgroup.Usage(fds))
    finally:
        for fd in set(fds.values()):
            os.close(fd)

    sdk.load_balancer.delete_load_balancer(lb.id, cascade=True)
    wait_for("the load balancer gone",
             lambda: sdk.load_balancer.find_load_balancer(lb.id) is None, 30, 0.1)
    assert not any(Path(d).exists() for d in dirs.values())


def _check_group(lab: PortusLab, sdk: openstack.connection.Connection, lb: Any, namespace: str,
                 dirs: dict[str, str], usage: cgroup.Usage) -> None:
    assert usage.vcpus() == 0.5 and usage.memory_limit() == 256 << 20

    # Every process of the amphora (agent, HAProxy master and worker) is in the group.
    pids = lab.amphora_pids()
    assert len(pids) >= 3
    for pid in pids:
        assert f"/portus/{namespace}" in _groups_of(pid), pid
    amphora = next(sdk.load_balancer.amphorae(loadbalancer_id=lb.id))
    haproxy_cfg = (lab.run_dir / "amphorae" / amphora.id / "haproxy.cfg").read_text()
    assert re.search(r"^\s*maxconn 2000$", haproxy_cfg, re.M), "the flavor's maxconn"

    # The group counts what its processes spend (what the CPU metric and the quota
    # are made of).
    spent = usage.cpu_seconds()
    burn = subprocess.run([sys.executable, "-c", BURN, *(f"{k}={v}" for k, v in dirs.items())],
                          cwd=Path(__file__).resolve().parents[2], timeout=30)
    assert burn.returncode == 0
    assert usage.cpu_seconds() - spent >= 0.2

    # The metrics are the group's: memory in percent of its limit.
    code, body = _curl(lab, lb.vip_address, 9100, "/metrics")
    assert code == 200, body
    samples = dict(line.rsplit(" ", 1) for line in body.splitlines()
                   if line and not line.startswith("#"))
    expected = usage.memory_bytes() / (256 << 20) * 100
    assert abs(float(samples["octavia_loadbalancer_memory"]) - expected) < 3, (samples, expected)
    assert 0 <= float(samples["octavia_loadbalancer_cpu"]) <= 100

