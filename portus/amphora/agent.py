"""The amphora agent: a small mutual-TLS REST API in front of one HAProxy.

Run as ``python -m portus.amphora.agent --config PATH`` inside the amphora.
It holds no knowledge of how a configuration is built; it validates what the
controller pushes, applies it without dropping connections, and reports.

STDLIB ONLY, and only cheap modules: one agent runs per amphora, so every MB
of RSS is multiplied by the number of amphorae. That is why the HTTP layer is
a ~60-line parser on socketserver rather than http.server (which drags in
http.client and the email package, ~3 MB), and why typing/dataclasses,
argparse, tempfile and subprocess (~0.5 MB; posix_spawn does the job) are
avoided.

Files in base_dir: haproxy.cfg (applied config), haproxy.cfg.new (candidate
being validated), generation, haproxy.pid (master PID), master.sock (master
CLI), haproxy.sock (stats socket, declared by the rendered config),
haproxy.log (the haproxy master's stderr) and ping-check (the PING health
monitor's external check script, installed at start from the package).
"""
from __future__ import annotations

import csv
import re
import json
import os
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time

from portus.amphora import cgroup, metrics_proxy, udp
from portus.amphora import PING_CHECK
from portus.amphora.keepalived import Keepalived, KeepalivedError
from portus.common.osutil import (alive, children, read_text, run, run_capture, wait_dead,
                                   write_atomic)
from portus.common import heartbeat

TYPE_CHECKING = False  # see portus.common.heartbeat: keeps `typing` unloaded
if TYPE_CHECKING:
    from typing import Any

API_VERSION = "1.0"
HEARTBEAT_VERSION = 3
MAX_BODY = 8 << 20  # a rendered config; certificates travel separately
MAX_LINE = 8192
MAX_HEADERS = 100
HANDSHAKE_TIMEOUT = 10.0
REQUEST_TIMEOUT = 30.0
RELOAD_TIMEOUT = 30.0  # the master retries busy binds for ~2 s before failing
START_TIMEOUT = 30.0
WATCH_INTERVAL = 0.25  # how soon a dead HAProxy is started again
REVIVE_BACKOFF = 5.0  # after a failed start
SOFT_STOP_TIMEOUT = 5.0  # then SIGTERM, then SIGKILL: DELETE must finish
REASONS = {
    200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
    409: "Conflict", 411: "Length Required", 413: "Payload Too Large",
    414: "URI Too Long", 500: "Internal Server Error", 501: "Not Implemented",
}


def log(msg: str) -> None:
    sys.stderr.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} portus-agent: {msg}\n")
    sys.stderr.flush()


# -- processes ---------------------------------------------------------------

def unix_command(path: str, command: str, timeout: float = 5.0) -> str:
    """One command on a haproxy CLI socket (master or stats), non-interactive."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(command.encode() + b"\n")
        s.shutdown(socket.SHUT_WR)  # the master CLI answers only once it sees EOF
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def parse_stat_csv(text: str) -> list[dict[str, str]]:
    """`show stat` CSV -> one dict per row (header '# pxname,svname,...')."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        return []
    reader = csv.reader(lines[1:])
    names = lines[0][2:].split(",")
    return [dict(zip(names, row)) for row in reader if row]


CERT_NAME = re.compile(r"[0-9a-f]{40}\.pem")
PEM_BLOCK = re.compile(rb"-----BEGIN [A-Z ]+-----.+?-----END [A-Z ]+-----", re.S)


class HaproxyError(Exception):
    def __init__(self, message: str, config_in_effect: bool = False) -> None:
        super().__init__(message)
        # True when haproxy already runs the new file although we failed later
        # (e.g. readiness timed out): the caller must not restore the old file.
        self.config_in_effect = config_in_effect


class ProcList:
    """The master CLI's `show proc`."""

    def __init__(self, text: str) -> None:
        self.reloads = -1
        self.failed = 0
        self.workers: list[int] = []  # current workers (serving)
        self.old_workers: list[int] = []  # finishing connections after a reload
        section = self.workers
        for line in text.splitlines():
            if line.startswith("#"):
                if "old workers" in line:
                    section = self.old_workers
                elif "workers" in line:
                    section = self.workers
                elif "programs" in line:
                    section = []
                continue
            fields = line.split()
            if len(fields) < 3 or not fields[0].isdigit():
                continue
            if fields[1] == "master":
                self.reloads = int(fields[2])
                if "[failed:" in line:
                    self.failed = int(line.split("[failed:", 1)[1].split("]", 1)[0])
            elif fields[1] == "worker":
                section.append(int(fields[0]))


class Haproxy:
    """One master-worker haproxy, daemonized so it outlives the agent."""

    def __init__(self, binary: str, base_dir: str) -> None:
        self.binary = binary
        self.cfg = os.path.join(base_dir, "haproxy.cfg")
        self.pidfile = os.path.join(base_dir, "haproxy.pid")
        self.master_sock = os.path.join(base_dir, "master.sock")
        self.stats_sock = os.path.join(base_dir, "haproxy.sock")
        self.logfile = os.path.join(base_dir, "haproxy.log")
        self._version: str | None = None
        self._pid: int | None = None  # last master PID seen

    def version(self) -> str:
        if self._version is None:
            try:
                out = run_capture([self.binary, "-v"], timeout=10)[1]
                first = out.split("\n", 1)[0]  # "HAProxy version 2.6.12-1 ..."
                self._version = first.split("version", 1)[1].split()[0] if "version" in first else first
            except (OSError, IndexError) as exc:
                return f"unknown ({exc})"
        return self._version

    def master_pid(self) -> int | None:
        """The running master from our pid file, or None.

        PIDs are global across amphorae on one host and get reused, so the
        process must also be a haproxy started on *this* base_dir's config.
        A reloading master rewrites its pid file (briefly missing or empty)
        and re-executes itself (cmdline briefly empty): the last PID we saw
        bridges those moments, so a reload never looks like a dead haproxy.
        """
        try:
            with open(self.pidfile) as f:
                pid: int | None = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pid = self._pid
        self._pid = pid if pid is not None and self._is_ours(pid) else None
        return self._pid

    def _is_ours(self, pid: int) -> bool:
        if not alive(pid):
            return False
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            return False
        if argv == [b""]:  # mid-execve
            return pid == self._pid
        return self.cfg.encode() in argv

    def running(self) -> bool:
        return self.master_pid() is not None

    def validate(self, path: str) -> tuple[bool, str]:
        try:
            rc, out = run_capture([self.binary, "-c", "-f", path], timeout=60)
        except OSError as exc:  # TimeoutError is an OSError
            raise HaproxyError(f"could not run {self.binary} -c: {exc}") from None
        # NOTICE lines (version, executable path) are noise for the controller.
        lines = [ln for ln in out.splitlines() if ln.strip() and "[NOTICE]" not in ln]
        return rc == 0, "\n".join(lines)[-4000:]

    def proc_list(self) -> ProcList:
        return ProcList(unix_command(self.master_sock, "show proc"))

    def start(self) -> None:
        cmd = [
            self.binary, "-W", "-D", "-p", self.pidfile, "-f", self.cfg,
            "-S", f"{self.master_sock},mode,600",
        ]
        # The daemonized master keeps writing to its stderr: give it the log
        # file, and read back what this start added to it.
        with open(self.logfile, "ab+") as out:
            offset = out.seek(0, os.SEEK_END)
            try:
                rc = run(cmd, out.fileno(), START_TIMEOUT, setsid=True)
            except OSError as exc:
                raise HaproxyError(f"could not start haproxy: {exc}") from None
            out.seek(offset)
            output = out.read().decode("utf-8", "replace")
        if rc != 0:
            lines = [ln for ln in output.splitlines() if "[NOTICE]" not in ln]
            raise HaproxyError(f"haproxy exited with {rc}: " + "\n".join(lines)[-4000:])
        deadline = time.monotonic() + START_TIMEOUT
        while (pid := self.master_pid()) is None:
            if time.monotonic() > deadline:
                raise HaproxyError("haproxy started but wrote no usable pid file")
            time.sleep(0.02)
        self._wait_serving(pid, set(), -1, deadline)

    def reload(self) -> None:
        """Seamless reload: SIGUSR2 to the master, then wait for the new worker.

        The master re-executes itself on the config file, hands the listening
        sockets to a new worker and tells the old ones to finish their
        connections. Success = the master's reload counter went up and a
        worker that was not there before is listed as current and answers.
        """
        pid = self.master_pid()
        if pid is None:
            raise HaproxyError("haproxy is not running")
        deadline = time.monotonic() + RELOAD_TIMEOUT
        before = self._proc_list_until(deadline)
        os.kill(pid, signal.SIGUSR2)
        self._wait_serving(pid, set(before.workers) | set(before.old_workers), before.reloads, deadline)

    def _wait_serving(self, pid: int, old: set[int], reloads: int, deadline: float) -> None:
        while True:
            if not alive(pid):
                raise HaproxyError(f"haproxy master {pid} died (see haproxy.log)")
            try:
                procs = self.proc_list()
            except OSError:
                procs = None  # the master is busy re-executing itself
            if procs is not None and procs.reloads > reloads:
                new = [w for w in procs.workers if w not in old]
                if not new:
                    raise HaproxyError(
                        "haproxy kept the previous configuration: the new one could not be "
                        f"applied (failed reloads: {procs.failed}; e.g. an address already in use)"
                    )
                # The master has forked the new worker; it serves once it answers
                # CLI commands itself (the master replies with an error text
                # while it cannot reach it).
                while not self._worker_answers(new[0]):
                    if time.monotonic() > deadline:
                        raise HaproxyError(
                            f"new haproxy worker {new[0]} did not become ready", config_in_effect=True,
                        )
                    time.sleep(0.02)
                return
            if time.monotonic() > deadline:
                raise HaproxyError("timed out waiting for haproxy to load the configuration")
            time.sleep(0.02)

    def _worker_answers(self, worker: int) -> bool:
        try:
            out = unix_command(self.master_sock, f"@!{worker} show info", timeout=2.0)
        except OSError:
            return False
        return f"\nPid: {worker}\n" in out

    def _proc_list_until(self, deadline: float) -> ProcList:
        while True:
            try:
                return self.proc_list()
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise HaproxyError(f"haproxy master CLI not answering: {exc}") from None
                time.sleep(0.02)

    def stop(self) -> bool:
        """Soft-stop (workers finish their connections), then force. True if it ran."""
        pid = self.master_pid()
        if pid is None:
            self._cleanup()
            return False
        workers = children(pid)
        os.kill(pid, signal.SIGUSR1)
        if not wait_dead([pid], SOFT_STOP_TIMEOUT):
            log(f"haproxy master {pid} still running after soft-stop, sending SIGTERM")
            os.kill(pid, signal.SIGTERM)
            if not wait_dead([pid], 2.0):
                log(f"haproxy master {pid} ignored SIGTERM, sending SIGKILL")
        # Workers normally leave with their master; make sure of it.
        leftovers = [p for p in set([pid] + workers + children(pid)) if alive(p)]
        for p in leftovers:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_dead(leftovers, 2.0)
        self._cleanup()
        return True

    def _cleanup(self) -> None:
        for path in (self.pidfile, self.master_sock):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def show_stat(self) -> list[dict[str, str]]:
        """Rows of `show stat`; empty when haproxy or its stats socket is absent."""
        if not os.path.exists(self.stats_sock) or not self.running():
            return []
        return parse_stat_csv(unix_command(self.stats_sock, "show stat"))


# -- state -------------------------------------------------------------------

def install_ping_check(base_dir: str) -> None:
    """Put the PING check script where rendered configs name it (a fresh copy at
    every start, so an upgraded package brings its script along)."""
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ping_check.sh")
    with open(source, "rb") as f:
        write_atomic(os.path.join(base_dir, PING_CHECK), f.read(), mode=0o700)


class Agent:
    """Applied generation + config; every change goes through `lock`."""

    def __init__(self, amphora_id: str, base_dir: str, hap: Haproxy, certs_dir: str = "",
                 keepalived_bin: str = "keepalived") -> None:
        self.amphora_id = amphora_id
        self.base_dir = base_dir
        self.hap = hap
        # TLS files the configuration names; on a memory file system (the controller
        # picks the path), named by their content hash.
        self.certs_dir = certs_dir or os.path.join(base_dir, "certs")
        os.makedirs(self.certs_dir, mode=0o700, exist_ok=True)
        self.vrrp = Keepalived(keepalived_bin, base_dir)
        self.lock = threading.Lock()
        self._revive_after = 0.0  # monotonic time before which revive() waits
        self.gen_file = os.path.join(base_dir, "generation")
        self.generation = 0
        try:
            self.generation = int(read_text(self.gen_file) or 0)
        except ValueError:
            log(f"ignoring unreadable {self.gen_file}")
        pid = hap.master_pid()
        if pid is not None:
            log(f"adopted running haproxy master {pid}, generation {self.generation}")
        self.udp = udp.Dataplane(base_dir, run_capture, log)  # UDP/SCTP listeners (nftables)

    def info(self) -> dict[str, Any]:
        return {
            "amphora_id": self.amphora_id,
            "api_version": API_VERSION,
            "haproxy_version": self.hap.version(),
            "generation": self.generation,
            "haproxy_running": self.hap.running(),
        }

    def put_config(self, generation: int, text: str,
                   keepalived: str | None = None) -> tuple[int, dict[str, Any]]:
        """Apply haproxy.cfg and, for an ACTIVE_STANDBY amphora, keepalived.conf
        (None: no VRRP here). Both are checked before either is applied."""
        with self.lock:
            if generation < self.generation:
                return 409, {
                    "error": f"generation {generation} is older than the applied {self.generation}",
                    "generation": self.generation,
                }
            running = self.hap.running()
            previous = read_text(self.hap.cfg)
            if (generation == self.generation and text == previous and running
                    and self.vrrp.matches(keepalived)):
                return 200, {"generation": generation, "action": "unchanged"}
            candidate = self.hap.cfg + ".new"
            write_atomic(candidate, text.encode("utf-8"))
            try:
                ok, details = self.hap.validate(candidate)
            except HaproxyError as exc:  # could not check: our fault, not the config's
                os.unlink(candidate)
                return 500, {"error": str(exc), "generation": self.generation}
            if not ok:
                os.unlink(candidate)
                return 400, {"error": "invalid haproxy configuration", "details": details,
                             "generation": self.generation}
            try:
                vrrp_details = self.vrrp.check(keepalived)
            except KeepalivedError as exc:
                os.unlink(candidate)
                return 500, {"error": str(exc), "generation": self.generation}
            if vrrp_details is not None:
                os.unlink(candidate)
                return 400, {"error": "invalid keepalived configuration",
                             "details": vrrp_details, "generation": self.generation}
            os.replace(candidate, self.hap.cfg)
            try:
                if running:
                    self.hap.reload()
                    action = "reloaded"
                else:
                    self.hap.start()
                    action = "started"
            except HaproxyError as exc:
                if not exc.config_in_effect:
                    # Keep the file on disk equal to what haproxy runs.
                    if previous is None:
                        os.unlink(self.hap.cfg)
                    else:
                        write_atomic(self.hap.cfg, previous.encode("utf-8"))
                return 500, {"error": str(exc), "generation": self.generation}
            try:
                # After haproxy: the VRRP track script wants it running.
                vrrp_action = self.vrrp.apply(keepalived)
            except (KeepalivedError, OSError) as exc:
                return 500, {"error": f"keepalived: {exc}", "generation": self.generation}
            write_atomic(self.gen_file, str(generation).encode())
            self.generation = generation
            self._prune_certificates(text)
            result = {"generation": generation, "action": action}
            if vrrp_action != "none":
                result["vrrp"] = vrrp_action
            return 200, result

    def revive(self) -> None:
        """Start HAProxy again if it died while a configuration is applied (nothing
        else would: it runs daemonized, outside any supervisor). Skipped while a
        change holds the lock: that change starts or reloads it anyway."""
        if time.monotonic() < self._revive_after or not self.lock.acquire(blocking=False):
            return
        try:
            if self.generation == 0 or self.hap.running() or not os.path.exists(self.hap.cfg):
                return
            log(f"haproxy is not running: starting it again on generation {self.generation}")
            self.hap.start()
        except HaproxyError as exc:
            log(f"could not start haproxy again (next try in {REVIVE_BACKOFF:.0f} s): {exc}")
            self._revive_after = time.monotonic() + REVIVE_BACKOFF
        finally:
            self.lock.release()

    # -- TLS files ----------------------------------------------------------------
    def certificates(self) -> list[str]:
        return sorted(n for n in os.listdir(self.certs_dir) if CERT_NAME.fullmatch(n))

    def put_certificate(self, name: str, content: bytes) -> dict[str, Any]:
        if not CERT_NAME.fullmatch(name):
            raise HttpError(400, "a certificate file is named <40 hex digits>.pem")
        if b"-----BEGIN" not in content:
            raise HttpError(400, "a certificate file holds PEM")
        with self.lock:
            write_atomic(os.path.join(self.certs_dir, name), content)
        return {"file": name}

    def _prune_certificates(self, config_text: str) -> None:
        """Remove files the applied configuration does not name. The controller uploads
        a configuration's files just before pushing it, both under the lock."""
        for name in self.certificates():
            if name not in config_text:
                os.unlink(os.path.join(self.certs_dir, name))

    def delete_config(self) -> dict[str, Any]:
        # The generation is kept: an amphora never goes backwards, even after
        # a DELETE, so a stale push from a slow controller cannot resurrect it.
        self.udp.clear()
        with self.lock:
            self.vrrp.stop()  # first: the peer takes the VIP before haproxy goes
            stopped = self.hap.stop()
            try:
                os.unlink(self.hap.cfg)
            except FileNotFoundError:
                pass
            self._prune_certificates("")
            return {"generation": self.generation, "action": "stopped" if stopped else "not_running"}


# -- heartbeat ---------------------------------------------------------------

def parse_target(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    return host.strip("[]"), int(port)


def heartbeat_payload(agent: Agent, seq: int) -> dict[str, Any]:
    listeners: dict[str, Any] = {}
    pools: dict[str, Any] = {}
    for row in agent.hap.show_stat():
        name, sv = row.get("pxname", ""), row.get("svname", "")
        if name.startswith(metrics_proxy.INTERNAL):
            continue  # not a listener or a pool
        if sv == "FRONTEND":
            listeners[name] = {
                "status": row.get("status", ""),
                "stats": {
                    "tx": _int(row.get("bout")), "rx": _int(row.get("bin")),
                    "conns": _int(row.get("scur")), "totconns": _int(row.get("stot")),
                    "ereq": _int(row.get("ereq")),
                },
            }
        elif sv == "BACKEND":
            pool = pools.setdefault(name, {"status": "DOWN", "members": {}})
            pool["status"] = "UP" if row.get("status", "").startswith("UP") else "DOWN"
        elif row.get("type") == "2":  # a server
            pools.setdefault(name, {"status": "DOWN", "members": {}})["members"][sv] = row.get("status", "")
    agent.udp.report(listeners, pools)
    return {
        "id": agent.amphora_id, "seq": seq, "ver": HEARTBEAT_VERSION, "t": time.time(),
        "generation": agent.generation, "listeners": listeners, "pools": pools,
    }


def _int(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


class Heartbeat(threading.Thread):
    def __init__(self, agent: Agent, targets: list[str], key: bytes, interval: float) -> None:
        super().__init__(name="heartbeat", daemon=True)
        self.agent = agent
        self.key = key
        self.interval = interval
        self.stopping = threading.Event()
        self.targets: list[tuple[int, tuple[Any, ...]]] = []
        for t in targets:
            try:
                host, port = parse_target(t)
                # bytes, not str: a str host makes getaddrinfo load the idna
                # codec with stringprep and unicodedata (~0.7 MB RSS).
                fam, _, _, _, addr = socket.getaddrinfo(
                    host.encode("ascii"), port, type=socket.SOCK_DGRAM)[0]
                self.targets.append((fam, addr))
            except (OSError, ValueError) as exc:
                log(f"ignoring heartbeat target {t!r}: {exc}")
        self._socks: dict[int, socket.socket] = {}
        self._last_error = ""

    def run(self) -> None:
        seq = 0
        next_at = time.monotonic()
        while not self.stopping.is_set():
            seq += 1
            self._beat(seq)
            next_at += self.interval
            # Skip missed beats instead of bursting after a stall.
            next_at = max(next_at, time.monotonic())
            self.stopping.wait(next_at - time.monotonic())

    def _beat(self, seq: int) -> None:
        if not self.agent.vrrp.healthy():
            # Silence gets this amphora replaced: with keepalived alone dead it would
            # keep the VIP while its peer takes it too (split brain).
            msg = "keepalived is not running: heartbeats stop until it does"
            if msg != self._last_error:
                log(msg)
            self._last_error = msg
            return
        try:
            data = heartbeat.encode(heartbeat_payload(self.agent, seq), self.key)
            for fam, addr in self.targets:
                sock = self._socks.get(fam)
                if sock is None:
                    sock = self._socks[fam] = socket.socket(fam, socket.SOCK_DGRAM)
                sock.sendto(data, addr)
            self._last_error = ""
        except Exception as exc:  # never let the thread die
            msg = f"heartbeat failed: {exc!r}"
            if msg != self._last_error:  # log a persistent problem once
                log(msg)
            self._last_error = msg


# -- HTTP over mutual TLS ----------------------------------------------------

class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], ctx: ssl.SSLContext, agent: Agent,
                 tls_files: tuple[str, str, str] = ("", "", "")) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.ctx = ctx
        self.agent = agent
        self.tls_files = tls_files  # our certificate, its key, the controller's CA
        self.cert_lock = threading.Lock()
        super().__init__(address, Handler)

    def replace_certificate(self, pem: bytes) -> dict[str, Any]:
        """Rotation: a new server certificate and key (one PEM body) for the next
        connections; the running ones keep theirs."""
        cert_path, key_path, ca_path = self.tls_files
        blocks = PEM_BLOCK.findall(pem)
        keys = [b for b in blocks if b"PRIVATE KEY" in b.split(b"\n", 1)[0]]
        certs = [b for b in blocks if b.startswith(b"-----BEGIN CERTIFICATE-----")]
        if len(keys) != 1 or not certs:
            raise HttpError(400, "send one certificate (chain) and one private key in PEM")
        with self.cert_lock:
            write_atomic(cert_path + ".new", b"\n".join(certs) + b"\n", 0o644)
            write_atomic(key_path + ".new", keys[0] + b"\n")
            try:
                tls_context(cert_path + ".new", key_path + ".new", ca_path)
            except (ssl.SSLError, OSError) as exc:
                raise HttpError(400, f"unusable certificate or key: {exc}") from None
            os.replace(cert_path + ".new", cert_path)
            os.replace(key_path + ".new", key_path)
            self.ctx = tls_context(cert_path, key_path, ca_path)
        return {"certificate": "replaced"}

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The handshake runs here, in the per-connection thread, not in
        # accept(): a client that never completes it cannot stall the server.
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (OSError, ValueError) as exc:
            log(f"{client_address[0]}: TLS handshake refused: {getattr(exc, 'reason', None) or exc}")
            return
        try:
            tls.settimeout(REQUEST_TIMEOUT)
            Handler(tls, client_address, self)
        finally:
            tls.close()


class Handler(socketserver.StreamRequestHandler):
    server: Server

    def handle(self) -> None:
        try:
            method, path, headers, body = self._read_request()
        except HttpError as exc:
            self._send(exc.status, {"error": str(exc)})
            return
        except (OSError, ValueError):
            return  # client went away or garbage: nothing to answer
        extra: dict[str, str] = {}
        try:
            status, payload, extra = self._route(method, path.split("?", 1)[0], headers, body)
        except HttpError as exc:
            status, payload = exc.status, {"error": str(exc)}
        except Exception as exc:  # report, never kill the thread silently
            log(f"{method} {path} failed: {exc!r}")
            status, payload = 500, {"error": f"internal error: {exc}"}
        self._send(status, payload, extra)
        if method != "GET" or status >= 400:  # info/stats polling would flood the log
            note = (payload.get("action") or payload.get("error", "")) if isinstance(payload, dict) else ""
            log(f"{self.client_address[0]} {method} {path} {status} {note}".rstrip())

    def _route(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        agent = self.server.agent
        if path == "/1.0/info":
            self._allow(method, "GET")
            return 200, agent.info(), {}
        if path == "/1.0/stats":
            self._allow(method, "GET")
            return 200, {"haproxy_running": agent.hap.running(),
                         "stats": [_typed(r) for r in agent.hap.show_stat()]}, {}
        if path == "/1.0/certificate":
            self._allow(method, "PUT")
            return 200, self.server.replace_certificate(body), {}
        if path == "/1.0/certificates":
            self._allow(method, "GET")
            return 200, {"files": agent.certificates()}, {}
        if path.startswith("/1.0/certificates/"):
            self._allow(method, "PUT")
            return 200, agent.put_certificate(path.rsplit("/", 1)[1], body), {}
        if path == "/1.0/config":
            self._allow(method, "GET", "PUT", "DELETE")
            if method == "GET":
                text = read_text(agent.hap.cfg)
                if text is None:
                    raise HttpError(404, "no configuration applied")
                return 200, text, {"X-Portus-Generation": str(agent.generation)}
            if method == "DELETE":
                return 200, agent.delete_config(), {}
            gen = headers.get("x-portus-generation", "")
            if not gen.isdigit():
                raise HttpError(400, "header X-Portus-Generation must be a non-negative integer")
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise HttpError(400, "configuration is not UTF-8") from None
            if not text.strip():
                raise HttpError(400, "empty configuration")
            keepalived = None
            if headers.get("content-type", "").startswith("application/json"):
                text, keepalived = _config_bundle(text)
            status, payload = agent.put_config(int(gen), text, keepalived)
            return status, payload, {"X-Portus-Generation": str(agent.generation)}
        if path == "/1.0/udp":  # the UDP/SCTP listeners (portus.amphora.udp)
            self._allow(method, "GET", "PUT")
            if method == "GET":
                return 200, agent.udp.status(), {}
            gen = headers.get("x-portus-generation", "")
            if not gen.isdigit():
                raise HttpError(400, "header X-Portus-Generation must be a non-negative integer")
            status, payload = agent.udp.put(int(gen), body)
            return status, payload, {}
        raise HttpError(404, f"no such resource: {path}")

    @staticmethod
    def _allow(method: str, *allowed: str) -> None:
        if method not in allowed:
            raise HttpError(405, f"method {method} not allowed (allowed: {', '.join(allowed)})")

    def _read_request(self) -> tuple[str, str, dict[str, str], bytes]:
        rfile = self.rfile
        line = rfile.readline(MAX_LINE + 1)
        if not line:
            raise OSError("connection closed")
        if len(line) > MAX_LINE:
            raise HttpError(414, "request line too long")
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise HttpError(400, "malformed request line")
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS):
            raw = rfile.readline(MAX_LINE + 1)
            if len(raw) > MAX_LINE:
                raise HttpError(400, "header line too long")
            if raw in (b"\r\n", b"\n", b""):
                break
            name, sep, value = raw.decode("latin-1").partition(":")
            if not sep:
                raise HttpError(400, "malformed header")
            headers[name.strip().lower()] = value.strip()
        else:
            raise HttpError(400, "too many headers")
        if "transfer-encoding" in headers:
            raise HttpError(501, "chunked bodies are not supported; send Content-Length")
        length = headers.get("content-length", "0")
        if not length.isdigit():
            raise HttpError(400, "bad Content-Length")
        if int(length) > MAX_BODY:
            raise HttpError(413, f"body larger than {MAX_BODY} bytes")
        body = rfile.read(int(length))
        if len(body) != int(length):
            raise OSError("truncated body")
        return parts[0], parts[1], headers, body

    def _send(self, status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
        if isinstance(payload, str):
            data, ctype = payload.encode("utf-8"), "text/plain; charset=utf-8"
        else:
            data, ctype = json.dumps(payload).encode("utf-8"), "application/json"
        head = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}",
                f"Content-Type: {ctype}", f"Content-Length: {len(data)}", "Connection: close"]
        head += [f"{k}: {v}" for k, v in (extra or {}).items()]
        try:
            self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
        except OSError:
            pass  # client gone


def _config_bundle(body: str) -> tuple[str, str | None]:
    """A JSON push: {"haproxy": cfg, "keepalived": cfg or null}."""
    try:
        bundle = json.loads(body)
    except ValueError:
        raise HttpError(400, "configuration bundle is not valid JSON") from None
    if not isinstance(bundle, dict) or not isinstance(bundle.get("haproxy"), str):
        raise HttpError(400, "configuration bundle needs a string 'haproxy'")
    keepalived = bundle.get("keepalived")
    if keepalived is not None and not (isinstance(keepalived, str) and keepalived.strip()):
        raise HttpError(400, "'keepalived' must be a non-empty string or null")
    if not bundle["haproxy"].strip():
        raise HttpError(400, "empty configuration")
    return bundle["haproxy"], keepalived


def watch_haproxy(agent: Agent, stopping: threading.Event) -> None:
    """Bring a dead HAProxy back within WATCH_INTERVAL (reading two small files)."""
    while not stopping.wait(WATCH_INTERVAL):
        try:
            agent.revive()
        except Exception as exc:  # never let the thread die
            log(f"haproxy watchdog: {exc!r}")


def _typed(row: dict[str, str]) -> dict[str, Any]:
    """Counters as ints, empty fields dropped (show stat has ~100 columns)."""
    return {k: int(v) if v.isdigit() else v for k, v in row.items() if v != ""}


# -- main --------------------------------------------------------------------

def tls_context(cert: str, key: str, ca: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    # Mutual TLS: only the controller holds a clientAuth cert from our CA;
    # OpenSSL checks that EKU, so an amphora's serverAuth cert is refused.
    ctx.load_verify_locations(cafile=ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    # The controller never resumes sessions: issuing TLS 1.3 tickets would
    # only cost CPU per request and memory per cached session.
    ctx.num_tickets = 0
    return ctx


def load_config(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        conf = json.load(f)
    missing = [k for k in ("amphora_id", "bind_ip", "bind_port", "cert", "key", "ca", "base_dir")
               if k not in conf]
    if missing:
        raise ValueError(f"{path}: missing keys: {', '.join(missing)}")
    if conf.get("heartbeat_targets") and not conf.get("heartbeat_key"):
        raise ValueError(f"{path}: heartbeat_targets need a heartbeat_key")
    conf["base_dir"] = os.path.abspath(conf["base_dir"])
    return conf  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "--config":
        sys.stderr.write("usage: python -m portus.amphora.agent --config PATH\n")
        return 2
    try:
        conf = load_config(args[1])
        # First: the processes started from here on (HAProxy, keepalived) inherit it.
        group = cgroup.inherited(os.environ)
        if group:
            cgroup.join(group, os.getpid())
        os.makedirs(conf["base_dir"], mode=0o700, exist_ok=True)
        install_ping_check(conf["base_dir"])
        hap = Haproxy(conf.get("haproxy_bin") or "haproxy", conf["base_dir"])
        agent = Agent(conf["amphora_id"], conf["base_dir"], hap, conf.get("certs_dir") or "",
                      conf.get("keepalived_bin") or "keepalived")
        ctx = tls_context(conf["cert"], conf["key"], conf["ca"])
        server = Server((conf["bind_ip"], int(conf["bind_port"])), ctx, agent,
                        (conf["cert"], conf["key"], conf["ca"]))
    except (OSError, ValueError) as exc:
        log(f"cannot start: {exc}")
        return 1
    beat = Heartbeat(
        agent, list(conf.get("heartbeat_targets") or []),
        str(conf.get("heartbeat_key") or "").encode(), float(conf.get("heartbeat_interval") or 3.0),
    )
    if beat.targets:
        beat.start()
    threading.Thread(target=watch_haproxy, args=(agent, beat.stopping), name="watchdog",
                     daemon=True).start()
    # PROMETHEUS listeners reach it through haproxy; idle, it is one listening socket.
    usage = metrics_proxy.Utilisation(cgroup.Usage(group) if group else None)
    threading.Thread(target=metrics_proxy.serve, args=(beat.stopping, log, usage),
                     name="metrics-proxy", daemon=True).start()

    def on_signal(signum: int, _frame: Any) -> None:
        # At once: a HAProxy killed with us (an amphora being deleted) must not be
        # started again by the watchdog before this process ends.
        beat.stopping.set()
        # shutdown() blocks until serve_forever returns, and serve_forever runs
        # in this (main) thread: call it from another one.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log(f"amphora {conf['amphora_id']} listening on {conf['bind_ip']}:{conf['bind_port']}, "
        f"haproxy {hap.version()}, generation {agent.generation}")
    server.serve_forever(poll_interval=0.5)
    beat.stopping.set()
    server.server_close()
    # Let a config change in flight finish, so haproxy is never left mid-reload.
    agent.lock.acquire(timeout=RELOAD_TIMEOUT + 5)
    log("stopped (haproxy left running)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
