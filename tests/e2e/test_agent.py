"""A real agent process driving a real haproxy, over real mutual TLS.

No namespace: the agent binds 127.0.0.1. Everything a test starts (agent,
haproxy master and workers, backends) is killed in finalizers, by PID.
"""
from __future__ import annotations

import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from portus.common.osutil import alive
from portus.common.heartbeat import InvalidHeartbeat, decode
from portus.drivers.amphora.rest_client import AgentClient, AgentError, AgentUnreachable
from portus.drivers.certificates.local_ca import LocalCA

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not on PATH"),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]

REPO = Path(__file__).resolve().parents[2]
HB_KEY = "heartbeat-test-key"
LISTENER, POOL, MEMBER = "l-" + uuid.uuid4().hex[:8], "p-" + uuid.uuid4().hex[:8], "m-1"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- backends ------------------------------------------------------------------

class Backend:
    """A tiny HTTP server answering its name: which backend served is visible."""

    def __init__(self, name: str) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                body = name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def backends() -> Iterator[dict[str, Backend]]:
    bes = {"A": Backend("A"), "B": Backend("B")}
    yield bes
    for be in bes.values():
        be.close()


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    authority = LocalCA(tmp_path_factory.mktemp("ca"))
    authority.ensure()
    return authority


# -- the amphora -----------------------------------------------------------------

class Amphora:
    def __init__(self, base: Path, ca: LocalCA) -> None:
        self.id = f"amp-{uuid.uuid4()}"
        self.base = base
        self.ip = "127.0.0.1"
        self.port = free_port()
        self.frontend_port = free_port()
        self.hb_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.hb_sock.bind(("127.0.0.1", 0))
        self.hb_sock.settimeout(10)
        issued = ca.issue_server_cert(self.id, [self.ip])
        (base / "server.pem").write_bytes(issued.cert_pem)
        (base / "server.key").write_bytes(issued.key_pem)
        os.chmod(base / "server.key", 0o600)
        self.config_path = base / "agent.json"
        self.config_path.write_text(json.dumps({
            "amphora_id": self.id, "bind_ip": self.ip, "bind_port": self.port,
            "cert": str(base / "server.pem"), "key": str(base / "server.key"),
            "ca": str(ca.ca_cert_path), "base_dir": str(base), "haproxy_bin": "haproxy",
            "heartbeat_targets": [f"127.0.0.1:{self.hb_sock.getsockname()[1]}"],
            "heartbeat_key": HB_KEY, "heartbeat_interval": 0.2,
        }))
        self.client = AgentClient(str(ca.ca_cert_path), str(ca.client_cert_path),
                                  str(ca.client_key_path), port=self.port)
        self.proc: subprocess.Popen[bytes] | None = None

    def start_agent(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        with open(self.base / "agent.log", "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "portus.amphora.agent", "--config", str(self.config_path)],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
            )
        self.client.wait_ready(self.id, self.ip, timeout=30)

    def stop_agent(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

    def haproxy_pids(self) -> list[int]:
        """Every live process started on this amphora's config (master, workers)."""
        needle = str(self.base).encode()
        pids = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.split(b"\0")[0].endswith(b"haproxy") and needle in cmdline and alive(int(name)):
                pids.append(int(name))
        return pids

    def kill_all(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pid in self.haproxy_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.hb_sock.close()

    def config(self, backend: Backend, extra: str = "") -> str:
        return f"""# rendered for test
global
    nbthread 1
    maxconn 1000
    stats socket {self.base}/haproxy.sock mode 600 level admin expose-fd listeners
    hard-stop-after 30s

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend {LISTENER}
    bind 127.0.0.1:{self.frontend_port}
    default_backend {POOL}:{LISTENER}

backend {POOL}:{LISTENER}
    server {MEMBER} 127.0.0.1:{backend.port} check inter 1s
{extra}"""

    def get(self) -> str:
        """One request through haproxy on a new connection (`Connection: close`)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.frontend_port, timeout=10)
        try:
            conn.request("GET", "/", headers={"Connection": "close"})
            resp = conn.getresponse()
            body = resp.read().decode()
            assert resp.status == 200, (resp.status, body)
            return body
        finally:
            conn.close()


@pytest.fixture
def amp(tmp_path: Path, ca: LocalCA) -> Iterator[Amphora]:
    base = tmp_path / "amp"
    base.mkdir(mode=0o700)
    a = Amphora(base, ca)
    try:
        a.start_agent()
        yield a
    finally:
        a.kill_all()
        log = base / "agent.log"
        if log.exists():
            sys.stderr.write(log.read_text()[-3000:])


# -- tests -----------------------------------------------------------------------

def test_push_config_serves_traffic(amp: Amphora, backends: dict[str, Backend]) -> None:
    info = amp.client.info(amp.id, amp.ip)
    assert info["amphora_id"] == amp.id and info["api_version"] == "1.0"
    assert info["generation"] == 0 and info["haproxy_running"] is False
    assert info["haproxy_version"].startswith("2.")

    text = amp.config(backends["A"])
    assert amp.client.put_config(amp.id, amp.ip, text, 1) == {"generation": 1, "action": "started"}
    assert amp.get() == "A"

    info = amp.client.info(amp.id, amp.ip)
    assert info["generation"] == 1 and info["haproxy_running"] is True
    assert amp.client.get_config(amp.id, amp.ip) == (text, 1)
    assert (amp.base / "generation").read_text() == "1"
    # Same generation, same text: nothing to do.
    assert amp.client.put_config(amp.id, amp.ip, text, 1)["action"] == "unchanged"

    rows = amp.client.stats(amp.id, amp.ip)["stats"]
    assert any(r["pxname"] == LISTENER and r["svname"] == "FRONTEND" for r in rows)
    assert any(r["pxname"] == f"{POOL}:{LISTENER}" and r["svname"] == MEMBER for r in rows)


def test_invalid_config_rejected_and_old_one_keeps_serving(amp: Amphora, backends: dict[str, Backend]) -> None:
    good = amp.config(backends["A"])
    amp.client.put_config(amp.id, amp.ip, good, 1)
    bad = good.replace(f"default_backend {POOL}:{LISTENER}", "default_backend no-such-pool")
    with pytest.raises(AgentError) as err:
        amp.client.put_config(amp.id, amp.ip, bad, 2)
    assert err.value.status == 400
    assert err.value.message == "invalid haproxy configuration"
    assert "no-such-pool" in err.value.details
    assert amp.get() == "A"
    assert amp.client.get_config(amp.id, amp.ip) == (good, 1)
    assert amp.client.info(amp.id, amp.ip)["generation"] == 1


def test_older_generation_refused(amp: Amphora, backends: dict[str, Backend]) -> None:
    amp.client.put_config(amp.id, amp.ip, amp.config(backends["A"]), 5)
    with pytest.raises(AgentError) as err:
        amp.client.put_config(amp.id, amp.ip, amp.config(backends["B"]), 4)
    assert err.value.status == 409 and err.value.generation == 5
    assert amp.get() == "A"


def test_reload_is_hitless(amp: Amphora, backends: dict[str, Backend]) -> None:
    amp.client.put_config(amp.id, amp.ip, amp.config(backends["A"]), 1)
    master = int((amp.base / "haproxy.pid").read_text())
    seen: dict[str, int] = {}
    failures: list[str] = []
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            try:
                body = amp.get()
                seen[body] = seen.get(body, 0) + 1
            except Exception as exc:  # noqa: BLE001 - every failure counts
                failures.append(repr(exc))

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        for gen in range(2, 12):
            name = "B" if gen % 2 == 0 else "A"
            result = amp.client.put_config(amp.id, amp.ip, amp.config(backends[name]), gen)
            assert result == {"generation": gen, "action": "reloaded"}
            # The agent answered only once the new worker serves: new behaviour now.
            assert amp.get() == name
    finally:
        stop.set()
        prober.join()
    assert failures == []
    assert seen.get("A", 0) > 0 and seen.get("B", 0) > 0
    assert int((amp.base / "haproxy.pid").read_text()) == master  # same master, reloaded


def test_reload_failure_keeps_old_config(amp: Amphora, backends: dict[str, Backend]) -> None:
    """Valid config that cannot be applied (address taken): 500, nothing changes."""
    good = amp.config(backends["A"])
    amp.client.put_config(amp.id, amp.ip, good, 1)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        extra = f"\nfrontend taken\n    bind 127.0.0.1:{port}\n    default_backend {POOL}:{LISTENER}\n"
        with pytest.raises(AgentError) as err:
            amp.client.put_config(amp.id, amp.ip, amp.config(backends["B"], extra), 2)
    assert err.value.status == 500 and err.value.generation == 1
    assert amp.get() == "A"
    assert amp.client.get_config(amp.id, amp.ip) == (good, 1)


def test_heartbeat_arrives_signed(amp: Amphora, backends: dict[str, Backend]) -> None:
    amp.client.put_config(amp.id, amp.ip, amp.config(backends["A"]), 3)
    amp.get()
    last_seq = 0
    for _ in range(200):  # bounded by count, not by wall clock
        data, _ = amp.hb_sock.recvfrom(65535)
        with pytest.raises(InvalidHeartbeat):
            decode(data, b"wrong-key")
        beat = decode(data, HB_KEY.encode())
        assert beat["id"] == amp.id and beat["ver"] == 3
        assert beat["seq"] > last_seq
        last_seq = beat["seq"]
        if beat["generation"] == 3 and LISTENER in beat["listeners"]:
            break
    else:
        pytest.fail("no heartbeat with the pushed configuration")
    listener = beat["listeners"][LISTENER]
    assert listener["status"] == "OPEN"
    assert set(listener["stats"]) == {"tx", "rx", "conns", "totconns", "ereq"}
    pool = beat["pools"][f"{POOL}:{LISTENER}"]
    assert pool["status"] in ("UP", "DOWN") and MEMBER in pool["members"]


def test_client_cert_from_another_ca_refused(amp: Amphora, tmp_path: Path, ca: LocalCA) -> None:
    rogue = LocalCA(tmp_path / "rogue")
    rogue.ensure()
    intruder = AgentClient(str(ca.ca_cert_path), str(rogue.client_cert_path),
                           str(rogue.client_key_path), port=amp.port, timeout=5)
    with pytest.raises(AgentUnreachable):
        intruder.info(amp.id, amp.ip)
    # No client certificate at all.
    ctx = ssl.create_default_context(cafile=str(ca.ca_cert_path))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with socket.create_connection((amp.ip, amp.port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=amp.id) as tls:
                tls.sendall(b"GET /1.0/info HTTP/1.0\r\n\r\n")
                if not tls.recv(100):
                    raise ConnectionResetError("closed")
    # The agent is still fine afterwards.
    assert amp.client.info(amp.id, amp.ip)["amphora_id"] == amp.id


def test_server_identity_checked(amp: Amphora) -> None:
    with pytest.raises(AgentUnreachable):
        amp.client.info("amp-someone-else", amp.ip)


def test_unknown_resources(amp: Amphora) -> None:
    with pytest.raises(AgentError) as err:
        amp.client._request(amp.id, amp.ip, "GET", "/1.0/nope")
    assert err.value.status == 404
    with pytest.raises(AgentError) as err:
        amp.client._request(amp.id, amp.ip, "POST", "/1.0/info", body=b"{}")
    assert err.value.status == 405
    with pytest.raises(AgentError) as err:
        amp.client._request(amp.id, amp.ip, "PUT", "/1.0/config", body=b"global\n")
    assert err.value.status == 400  # no generation header


def test_delete_stops_haproxy(amp: Amphora, backends: dict[str, Backend]) -> None:
    amp.client.put_config(amp.id, amp.ip, amp.config(backends["A"]), 1)
    assert amp.get() == "A"
    assert amp.haproxy_pids()
    assert amp.client.delete_config(amp.id, amp.ip)["action"] == "stopped"
    assert amp.haproxy_pids() == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", amp.frontend_port), timeout=5).close()
    info = amp.client.info(amp.id, amp.ip)
    assert info["haproxy_running"] is False and info["generation"] == 1
    with pytest.raises(AgentError) as err:
        amp.client.get_config(amp.id, amp.ip)
    assert err.value.status == 404
    assert amp.client.delete_config(amp.id, amp.ip)["action"] == "not_running"


def test_dead_haproxy_is_started_again(amp: Amphora, backends: dict[str, Backend]) -> None:
    amp.client.put_config(amp.id, amp.ip, amp.config(backends["A"]), 2)
    master = int((amp.base / "haproxy.pid").read_text())
    for pid in amp.haproxy_pids():
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while True:  # the watchdog starts it on the applied configuration
        try:
            if amp.get() == "A":
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "haproxy was not started again"
        time.sleep(0.05)
    assert int((amp.base / "haproxy.pid").read_text()) != master
    info = amp.client.info(amp.id, amp.ip)
    assert info["haproxy_running"] is True and info["generation"] == 2
    assert "starting it again on generation 2" in (amp.base / "agent.log").read_text()


def test_restarted_agent_adopts_running_haproxy(amp: Amphora, backends: dict[str, Backend]) -> None:
    text = amp.config(backends["A"])
    amp.client.put_config(amp.id, amp.ip, text, 4)
    master = int((amp.base / "haproxy.pid").read_text())
    assert amp.stop_agent() == 0
    assert alive(master) and amp.get() == "A"  # haproxy outlives the agent
    amp.start_agent()
    info = amp.client.info(amp.id, amp.ip)
    assert info["generation"] == 4 and info["haproxy_running"] is True
    assert amp.client.put_config(amp.id, amp.ip, text, 4)["action"] == "unchanged"
    assert amp.client.put_config(amp.id, amp.ip, amp.config(backends["B"]), 5)["action"] == "reloaded"
    assert amp.get() == "B"


def _served_serial(amp: Amphora, ca: LocalCA) -> int:
    """The serial of the certificate the agent presents to a new connection."""
    import ssl as ssl_mod
    from cryptography import x509
    ctx = ssl_mod.SSLContext(ssl_mod.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(ca.ca_cert_path))
    ctx.load_cert_chain(str(ca.client_cert_path), str(ca.client_key_path))
    with socket.create_connection((amp.ip, amp.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=amp.id) as conn:
            der = conn.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def test_certificate_rotation_applies_to_new_connections(amp: Amphora, ca: LocalCA) -> None:
    from cryptography import x509
    before = _served_serial(amp, ca)
    issued = ca.issue_server_cert(amp.id, [amp.ip])
    new_serial = x509.load_pem_x509_certificate(issued.cert_pem).serial_number
    assert new_serial != before
    assert amp.client.put_server_certificate(amp.id, amp.ip, issued.cert_pem + issued.key_pem) == {
        "certificate": "replaced"}
    assert _served_serial(amp, ca) == new_serial
    assert (amp.base / "server.pem").read_bytes().strip() == issued.cert_pem.strip()
    # A key that does not match, or no key: refused, and the agent keeps its certificate.
    other = ca.issue_server_cert(amp.id, [amp.ip])
    with pytest.raises(AgentError) as bad:
        amp.client.put_server_certificate(amp.id, amp.ip, issued.cert_pem + other.key_pem)
    assert bad.value.status == 400
    with pytest.raises(AgentError):
        amp.client.put_server_certificate(amp.id, amp.ip, issued.cert_pem)
    assert _served_serial(amp, ca) == new_serial
    assert amp.client.info(amp.id, amp.ip)["amphora_id"] == amp.id
