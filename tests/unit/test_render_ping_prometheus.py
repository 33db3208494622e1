"""PING health monitors (haproxy external checks) and PROMETHEUS listeners in the renderer,
the agent's ping-check script, and both on a real haproxy on loopback."""
from __future__ import annotations

import dataclasses
import http.client
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from portus.amphora import PING_CHECK, agent, metrics_proxy
from portus.amphora.render import RenderError, render_haproxy
from portus.amphora.spec import AmphoraRuntime, L7PolicySpec, L7RuleSpec
from tests.unit.test_render import (AMP, HAPROXY, _haproxy_check, be, fe, lb, listener, member,
                                    needs_haproxy, one, pool, servers, tcp_hm)

PING = shutil.which("ping")


def ping_hm(**kw: Any) -> Any:
    return tcp_hm(type="PING", **kw)


def target_lines(cfg: str) -> list[str]:
    return [line.strip() for line in cfg.splitlines() if "# ping-target" in line]


# --- PING rendering -----------------------------------------------------------------

def test_ping_monitor_is_an_external_check_with_targets_and_timeout() -> None:
    p = pool(members=(member("m1", "192.0.2.10", monitor_port=9000),
                      member("m2", "2001:db8::10", monitor_address="2001:db8:0::11"),
                      member("m3", "192.0.2.12", monitor_address="198.51.100.7")),
             health_monitor=ping_hm(delay=7, timeout=2))
    cfg = render_haproxy(lb(listener(protocol="TCP", default_pool=p)), AMP)
    s = one(lb(listener(protocol="TCP", default_pool=p)))
    assert "external-check" in s["global"] and "insecure-fork-wanted" in s["global"]
    b = be(s)
    assert "option external-check" in b
    assert 'external-check path "/usr/bin:/bin"' in b
    assert f"external-check command {AMP.base_dir}/{PING_CHECK}" in b
    assert "timeout check 2s" in b
    assert not any(line.startswith("option httpchk") for line in b)
    # haproxy ignores addr/port for external checks: the target rides on a comment line.
    srv = servers(b)
    for tokens in srv.values():
        assert tokens[tokens.index("check"):tokens.index("check") + 7] == [
            "check", "inter", "7s", "fall", "3", "rise", "2"]
        assert "addr" not in tokens and "port" not in tokens and "check-ssl" not in tokens
    assert target_lines(cfg) == ["# ping-target p1:l1/m1 192.0.2.10 2",
                                 "# ping-target p1:l1/m2 2001:db8::11 2",
                                 "# ping-target p1:l1/m3 198.51.100.7 2"]


def test_ping_on_http_pool_and_shared_pool_names_each_backend() -> None:
    p = pool(health_monitor=ping_hm())
    cfg = render_haproxy(lb(listener("l1", default_pool=p), listener("l2", port=81,
                                                                     default_pool=p)), AMP)
    assert target_lines(cfg) == [f"# ping-target p1:{li}/{m} 192.0.2.1{i} 3"
                                 for li in ("l1", "l2") for i, m in enumerate(("m1", "m2"))]


def test_no_external_check_without_an_enabled_ping_monitor() -> None:
    for hm in (None, tcp_hm(), ping_hm(enabled=False)):
        cfg = render_haproxy(lb(listener(default_pool=pool(health_monitor=hm))), AMP)
        s = one(lb(listener(default_pool=pool(health_monitor=hm))))
        assert "external-check" not in s["global"] and "insecure-fork-wanted" not in s["global"]
        assert not target_lines(cfg) and "external-check" not in cfg


def test_ping_monitor_address_must_be_an_ip() -> None:
    p = pool(members=(member("m1", monitor_address="host.example"),), health_monitor=ping_hm())
    with pytest.raises(RenderError, match="monitor_address"):
        render_haproxy(lb(listener(default_pool=p)), AMP)


# --- PROMETHEUS rendering -----------------------------------------------------------

def test_prometheus_listener_serves_the_exporter_and_404_otherwise() -> None:
    s = one(lb(listener(protocol="PROMETHEUS", port=9100, default_pool=None,
                        connection_limit=20, timeout_client_data=3000,
                        insert_headers={"X-Forwarded-For": "true"})))
    f = fe(s)
    assert f[:4] == ["mode http", "maxconn 20", "bind 203.0.113.5:9100", "timeout client 3000"]
    assert f[4:] == ["acl metrics path /metrics",
                     "http-request deny deny_status 404 unless metrics",
                     "use_backend prometheus-exporter-proxy"]
    # haproxy's exporter on loopback, read by the agent's renaming proxy.
    assert s["frontend prometheus-exporter-internal"] == [
        "mode http", "bind 127.0.0.1:9101", "http-request use-service prometheus-exporter"]
    assert s["backend prometheus-exporter-proxy"] == ["mode http",
                                                      "server agent 127.0.0.1:9102"]
    assert [k for k in s if k.startswith("backend")] == ["backend prometheus-exporter-proxy"]


def test_no_internal_exporter_without_an_enabled_prometheus_listener() -> None:
    for spec in (lb(listener()), lb(listener(protocol="PROMETHEUS", port=9100,
                                             default_pool=None, enabled=False))):
        assert "prometheus-exporter" not in render_haproxy(spec, AMP)


def test_prometheus_listener_binds_additional_vips() -> None:
    f = fe(one(lb(listener(protocol="PROMETHEUS", port=9100, default_pool=None),
                  additional_vips=("198.51.100.9",))))
    assert "bind 198.51.100.9:9100" in f


@pytest.mark.parametrize("extra", [
    {"default_pool": pool(protocol="HTTP")},
    {"default_pool": None, "l7policies": (L7PolicySpec(
        id="p1", action="REJECT", position=1,
        rules=(L7RuleSpec(id="r1", type="PATH", compare_type="EQUAL_TO", value="/x"),)),)},
])
def test_prometheus_listener_with_children_is_refused(extra: dict[str, Any]) -> None:
    with pytest.raises(RenderError, match="PROMETHEUS"):
        render_haproxy(lb(listener(protocol="PROMETHEUS", port=9100, **extra)), AMP)


@needs_haproxy
def test_haproxy_accepts_ping_and_prometheus_together() -> None:
    with tempfile.TemporaryDirectory(prefix="hx-") as base_dir:
        cfg = render_haproxy(lb(
            listener("lp", protocol="PROMETHEUS", port=9100, default_pool=None),
            listener(protocol="TCP", port=22, default_pool=pool(
                protocol="TCP", health_monitor=ping_hm(),
                members=(member("m1", "2001:db8::1", monitor_address="2001:db8::2"),)))),
            dataclasses.replace(AMP, base_dir=base_dir))
        result = _haproxy_check(cfg)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{cfg}"


# --- the ping-check script ----------------------------------------------------------

needs_ping = pytest.mark.skipif(PING is None, reason="iputils-ping not installed")


@pytest.fixture
def base_dir() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="hx-") as path:
        agent.install_ping_check(path)
        yield path


def _run_check(base_dir: str, cfg: str, server_addr: str) -> int:
    with open(os.path.join(base_dir, "haproxy.cfg"), "w") as f:
        f.write(cfg)
    env = {"PATH": "/usr/bin:/bin", "HAPROXY_PROXY_NAME": "p1:l1",
           "HAPROXY_SERVER_NAME": "m1", "HAPROXY_SERVER_ADDR": server_addr}
    return subprocess.run([os.path.join(base_dir, PING_CHECK), "NOT_USED", "NOT_USED",
                           server_addr, "80"], env=env, timeout=30).returncode


def test_agent_installs_an_executable_script(base_dir: str) -> None:
    path = os.path.join(base_dir, PING_CHECK)
    assert os.stat(path).st_mode & 0o777 == 0o700
    with open(path) as f:
        assert f.readline() == "#!/bin/sh\n"


@needs_ping
def test_script_pings_the_rendered_target(base_dir: str) -> None:
    # The member's own address does not parse: success means the target line was used.
    assert _run_check(base_dir, "    # ping-target p1:l1/m1 127.0.0.1 1\n", "bad") == 0
    assert _run_check(base_dir, "    # ping-target p1:l1/m1 bad 1\n", "127.0.0.1") != 0
    assert _run_check(base_dir, "    # ping-target p1:l1/other 127.0.0.1 1\n", "bad") != 0
    # Without a target line it pings the server address haproxy gives.
    assert _run_check(base_dir, "", "127.0.0.1") == 0


# --- both on a real haproxy -----------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stat(sock_path: str) -> dict[str, str]:
    """server name -> status, from the stats socket."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sock_path)
        s.sendall(b"show stat\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    rows = agent.parse_stat_csv(data.decode())
    return {r["svname"]: r["status"] for r in rows
            if r.get("type") == "2" and r["pxname"] == "p1:l1"}


@needs_haproxy
@needs_ping
def test_live_ping_check_and_metrics(base_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    port, metrics_port = _free_port(), _free_port()
    # The exporter and the agent's proxy on free ports: this runs on the host.
    monkeypatch.setattr(metrics_proxy, "EXPORTER", ("127.0.0.1", _free_port()))
    monkeypatch.setattr(metrics_proxy, "PROXY", ("127.0.0.1", _free_port()))
    stopping = threading.Event()
    proxy = threading.Thread(target=metrics_proxy.serve,
                             args=(stopping, print, metrics_proxy.Utilisation(None)), daemon=True)
    proxy.start()
    spec = lb(listener(protocol="TCP", port=port, default_pool=pool(
                  protocol="TCP", health_monitor=ping_hm(delay=1, timeout=1, rise=1, fall=1),
                  members=(member("m1", "127.0.0.1", 1), member("m2", "::1", 1)))),
              listener("lp", protocol="PROMETHEUS", port=metrics_port, default_pool=None),
              vip="127.0.0.1")
    cfg = render_haproxy(spec, dataclasses.replace(AMP, base_dir=base_dir))
    path = os.path.join(base_dir, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(cfg)
    assert HAPROXY is not None
    proc = subprocess.Popen([HAPROXY, "-db", "-f", path], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        sock = os.path.join(base_dir, "haproxy.sock")
        while time.monotonic() < deadline:
            if os.path.exists(sock) and _stat(sock) == {"m1": "UP", "m2": "UP"}:
                break
            time.sleep(0.1)
        assert _stat(sock) == {"m1": "UP", "m2": "UP"}
        conn = http.client.HTTPConnection("127.0.0.1", metrics_port, timeout=5)
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        body = response.read().decode()
        assert response.status == 200
        assert response.getheader("Content-Type", "").startswith("text/plain")
        # In Octavia's words, without the internal proxies, with utilisation figures.
        assert 'octavia_listener_current_sessions{listener="l1"} 0' in body
        assert 'octavia_listener_current_sessions{listener="lp"} 1' in body  # this scrape
        assert 'octavia_member_status{pool="p1:l1",member="m1",state="UP"} 1' in body
        assert "# TYPE octavia_loadbalancer_current_connections gauge" in body
        assert "\noctavia_loadbalancer_cpu " in body and "\noctavia_loadbalancer_memory " in body
        assert "haproxy_" not in body and "prometheus-exporter" not in body
        for other in ("/", "/metrics/x", "/stats"):
            conn.request("GET", other)
            response = conn.getresponse()
            response.read()
            assert response.status == 404, other
        conn.close()
    finally:
        proc.kill()
        stopping.set()
        proxy.join(5)
        proc.wait(5)


def test_metrics_are_renamed_as_octavia_does() -> None:
    exposition = "\n".join([
        "# HELP haproxy_process_current_connections Number of active sessions.",
        "# TYPE haproxy_process_current_connections gauge",
        "haproxy_process_current_connections 3",
        "# TYPE haproxy_process_pool_used_bytes gauge",
        "haproxy_process_pool_used_bytes 1024",
        'haproxy_frontend_bytes_in_total{proxy="l1"} 10',
        'haproxy_frontend_bytes_in_total{proxy="prometheus-exporter-internal"} 7',
        'haproxy_backend_status{proxy="p1:l1",state="UP"} 1',
        'haproxy_server_status{proxy="p1:l1",server="m1",state="DOWN"} 0',
        'haproxy_sticktable_size{name="t"} 1',  # no Octavia name: left out
        "# EOF-like comment",
    ])
    out = metrics_proxy.translate(exposition, metrics_proxy.Utilisation(None)).splitlines()
    assert out[2].startswith("octavia_loadbalancer_cpu ")
    assert out[5].startswith("octavia_loadbalancer_memory ")
    assert out[6:] == [
        "# HELP octavia_loadbalancer_current_connections Number of active sessions.",
        "# TYPE octavia_loadbalancer_current_connections gauge",
        "octavia_loadbalancer_current_connections 3",
        "# TYPE octavia_memory_pool_used_bytes gauge",
        "octavia_memory_pool_used_bytes 1024",
        'octavia_listener_bytes_in_total{listener="l1"} 10',
        'octavia_pool_status{pool="p1:l1",state="UP"} 1',
        'octavia_member_status{pool="p1:l1",member="m1",state="DOWN"} 0',
    ]


def test_heartbeat_leaves_the_internal_metrics_proxies_out() -> None:
    class Stats:
        def show_stat(self) -> list[dict[str, str]]:
            return [{"pxname": "l1", "svname": "FRONTEND", "status": "OPEN"},
                    {"pxname": "prometheus-exporter-internal", "svname": "FRONTEND",
                     "status": "OPEN"},
                    {"pxname": "prometheus-exporter-proxy", "svname": "agent", "type": "2",
                     "status": "no check"}]

    class FakeAgent:
        amphora_id, generation, hap = "amp-1", 1, Stats()

        class udp:
            @staticmethod
            def report(listeners: dict[str, Any], pools: dict[str, Any]) -> None:
                return None

    beat = agent.heartbeat_payload(FakeAgent(), 1)  # type: ignore[arg-type]
    assert list(beat["listeners"]) == ["l1"] and beat["pools"] == {}
