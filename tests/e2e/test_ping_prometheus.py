"""PING health monitors and PROMETHEUS listeners on real amphorae, through openstacksdk."""
from __future__ import annotations

import shutil
import subprocess

import openstack
import pytest

from portus.drivers import ipcmd
from tests.e2e.harness import PROJECT, PortusLab, wait_active, wait_for

pytestmark = pytest.mark.e2e

PING_MONITOR = {"type": "PING", "delay": 1, "timeout": 1, "max_retries": 1,
                "max_retries_down": 1}


def _member_states(sdk: openstack.connection.Connection, pool_id: str) -> dict[str, str]:
    return {m.name: m.operating_status for m in sdk.load_balancer.members(pool_id)}


def test_ping_monitor_marks_answering_members_online(
        lab: PortusLab, sdk: openstack.connection.Connection) -> None:
    be_a, be_b = lab.backend("a", 0), lab.backend("b", 1)
    # Nothing lives at this address of the lab's subnet.
    nobody = str(lab.subnet.network.broadcast_address - 20)
    members = [{"name": "a", "address": be_a.address, "protocol_port": be_a.port},
               {"name": "b", "address": be_b.address, "protocol_port": be_b.port},
               {"name": "ghost", "address": nobody, "protocol_port": 8080},
               # Pinged at its monitor_address, which answers.
               {"name": "watched", "address": nobody, "protocol_port": 8081,
                "monitor_address": be_a.address, "weight": 0}]
    lb = sdk.load_balancer.create_load_balancer(
        name="ping", project_id=PROJECT, vip_subnet_id=lab.subnet.id,
        listeners=[{"name": "tcp", "protocol": "TCP", "protocol_port": 80, "default_pool": {
            "name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
            "members": members}}])
    wait_active(sdk, lb.id)
    pool = next(sdk.load_balancer.pools(loadbalancer_id=lb.id))
    # Added to a running amphora: the reload turns external checks on.
    sdk.load_balancer.create_health_monitor(pool_id=pool.id, **PING_MONITOR)
    wait_active(sdk, lb.id)
    expected = {"a": "ONLINE", "b": "ONLINE", "ghost": "ERROR", "watched": "ONLINE"}
    wait_for(f"members {expected}", lambda: _member_states(sdk, pool.id) == expected, 30)
    assert sdk.load_balancer.get_pool(pool.id).operating_status == "DEGRADED"
    # The members the checks keep get the traffic.
    assert {lab.get(lb.vip_address) for _ in range(4)} == {"hello from a", "hello from b"}

    # b's host disappears: its process, its namespace and so its address.
    be_b.stop()
    ipcmd.netns_delete(be_b.namespace)
    wait_for("b ERROR", lambda: _member_states(sdk, pool.id)["b"] == "ERROR", 30)
    assert _member_states(sdk, pool.id) == {**expected, "b": "ERROR"}
    assert {lab.get(lb.vip_address) for _ in range(4)} == {"hello from a"}

    sdk.load_balancer.delete_load_balancer(lb.id, cascade=True)
    wait_for("the load balancer gone",
             lambda: sdk.load_balancer.find_load_balancer(lb.id) is None, 30, 0.1)


def _curl(lab: PortusLab, address: str, port: int, path: str) -> tuple[int, str]:
    lab._check_target(address)  # only our own bridges
    curl = shutil.which("curl")
    assert curl is not None, "curl is installed by the Makefile"
    out = subprocess.run([curl, "-sS", "-m", "5", "-w", "\n%{http_code}",
                          f"http://{address}:{port}{path}"],
                         capture_output=True, text=True, timeout=30)
    body, _, code = out.stdout.rpartition("\n")
    return int(code or 0), body


def test_prometheus_listener_serves_octavia_metrics(
        lab: PortusLab, sdk: openstack.connection.Connection) -> None:
    be_a = lab.backend("a", 0)
    lb = sdk.load_balancer.create_load_balancer(
        name="metrics", project_id=PROJECT, vip_subnet_id=lab.subnet.id,
        listeners=[{"name": "http", "protocol": "HTTP", "protocol_port": 80, "default_pool": {
                       "name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                       "members": [{"address": be_a.address, "protocol_port": be_a.port}]}},
                   {"name": "prom", "protocol": "PROMETHEUS", "protocol_port": 9100}])
    wait_active(sdk, lb.id)
    vip = lb.vip_address
    listeners = {li.name: li for li in sdk.load_balancer.listeners(loadbalancer_id=lb.id)}
    http_id, prom_id = listeners["http"].id, listeners["prom"].id
    wait_for("traffic", lambda: lab.get(vip) == "hello from a", 20)
    for _ in range(3):
        assert lab.get(vip) == "hello from a"

    code, body = _curl(lab, vip, 9100, "/metrics")
    assert code == 200, body
    # HAProxy's figures in Octavia's words (listener, pool, member), as its dashboards read.
    assert "# TYPE octavia_listener_http_requests_total counter" in body
    samples = dict(line.rsplit(" ", 1) for line in body.splitlines()
                   if line and not line.startswith("#"))
    assert int(samples[f'octavia_listener_http_requests_total{{listener="{http_id}"}}']) >= 4
    pool_id = next(sdk.load_balancer.pools(loadbalancer_id=lb.id)).id
    assert f'octavia_pool_status{{pool="{pool_id}:{http_id}",state="UP"}}' in samples
    assert "octavia_loadbalancer_cpu" in samples and "octavia_loadbalancer_memory" in samples
    assert "haproxy_" not in body and "prometheus-exporter" not in body
    # Only the exporter is served on that port.
    for path in ("/", "/stats", "/metricsx"):
        assert _curl(lab, vip, 9100, path)[0] == 404, path
    # The listener's own statistics and status come through the heartbeats as usual.
    wait_for("prometheus listener ONLINE", lambda: sdk.load_balancer.get_listener(
        prom_id).operating_status == "ONLINE", 20)
    wait_for("prometheus listener counted", lambda: sdk.load_balancer.get_listener_statistics(
        prom_id).total_connections >= 4, 20)

    sdk.load_balancer.delete_load_balancer(lb.id, cascade=True)
    wait_for("the load balancer gone",
             lambda: sdk.load_balancer.find_load_balancer(lb.id) is None, 30, 0.1)
