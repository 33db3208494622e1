"""PROMETHEUS listeners: HAProxy's exporter in Octavia's words, served by the agent.

HAProxy's built-in exporter speaks of processes, frontends, backends and servers
(``haproxy_*``); Octavia's amphorae publish the same figures as load balancer,
listener, pool and member metrics (``octavia_*``, with ``listener``, ``pool`` and
``member`` labels), and dashboards built for Octavia read those names. The
rendered haproxy.cfg serves the exporter on EXPORTER (inside the amphora only)
and sends a PROMETHEUS listener's ``/metrics`` to PROXY, where this module
fetches the exporter's text, renames it and adds CPU and memory utilisation.

STDLIB ONLY, like agent.py.
"""
from __future__ import annotations

import os
import socket
import threading
import time

from portus.amphora import cgroup

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

EXPORTER = ("127.0.0.1", 9101)
PROXY = ("127.0.0.1", 9102)
# The rendered configuration names its two internal proxies with this prefix, so
# their own figures are left out (as Octavia does).
INTERNAL = "prometheus-exporter"
TIMEOUT = 10.0
MAX_REQUEST = 8192

# (HAProxy prefix, Octavia prefix, label renames), the more specific prefix first.
_FAMILIES = (
    ("haproxy_process_pool_", "octavia_memory_pool_", ()),
    ("haproxy_process_", "octavia_loadbalancer_", ()),
    ("haproxy_frontend_", "octavia_listener_", (("proxy", "listener"),)),
    ("haproxy_backend_", "octavia_pool_", (("proxy", "pool"),)),
    ("haproxy_server_", "octavia_member_", (("proxy", "pool"), ("server", "member"))),
)


def _rename_name(name: str) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    for old, new, labels in _FAMILIES:
        if name.startswith(old):
            return new + name[len(old):], labels
    return None


def _rename_line(line: str) -> str | None:
    """One exposition line in Octavia's words; None to leave it out (other metric
    families, and the internal proxies)."""
    if not line:
        return None
    if line.startswith("# "):  # "# HELP name text" or "# TYPE name type"
        parts = line.split(" ", 3)
        if len(parts) < 3 or parts[1] not in ("HELP", "TYPE"):
            return None
        renamed = _rename_name(parts[2])
        if renamed is None:
            return None
        return " ".join([parts[0], parts[1], renamed[0], *parts[3:]])
    if f'"{INTERNAL}' in line:
        return None
    end = min((i for i in (line.find("{"), line.find(" ")) if i >= 0), default=-1)
    if end < 0:
        return None
    renamed = _rename_name(line[:end])
    if renamed is None:
        return None
    name, labels = renamed
    rest = line[end:]
    for old, new in labels:
        # Label names follow "{" or ","; values are quoted, so this touches no value.
        rest = rest.replace("{" + old + '="', "{" + new + '="', 1)
        rest = rest.replace("," + old + '="', "," + new + '="', 1)
    return name + rest


def _meminfo_kib(key: str) -> int:
    with open("/proc/meminfo", encoding="ascii") as f:
        for row in f:
            name, _, value = row.partition(":")
            if name == key:
                return int(value.split()[0])
    raise OSError(f"/proc/meminfo has no {key}")


class Utilisation:
    """CPU and memory utilisation in percent: of the amphora's control group and its
    limits (the host's CPUs and memory where it has none), or, without a group,
    the host's own figures."""

    def __init__(self, group: cgroup.Usage | None) -> None:
        self.group = group
        self.lock = threading.Lock()
        # CPU is the share used since the previous scrape (the first: since start).
        self.last = self._cpu_sample() if group else (0.0, 0.0)

    def _cpu_sample(self) -> tuple[float, float]:
        assert self.group is not None
        return time.monotonic(), self.group.cpu_seconds()

    def figures(self) -> tuple[float, float]:
        if self.group is None:
            cpu = os.getloadavg()[0] / (os.cpu_count() or 1) * 100
            memory = (1 - _meminfo_kib("MemAvailable") / _meminfo_kib("MemTotal")) * 100
            return cpu, memory
        with self.lock:
            (then, used_then), (now, used_now) = self.last, self._cpu_sample()
            self.last = (now, used_now)
        cpus = self.group.vcpus() or os.cpu_count() or 1
        cpu = (used_now - used_then) / max(now - then, 1e-6) / cpus * 100
        limit = self.group.memory_limit() or _meminfo_kib("MemTotal") * 1024
        return cpu, self.group.memory_bytes() / limit * 100

    def lines(self) -> list[str]:
        cpu, memory = self.figures()
        return ["# HELP octavia_loadbalancer_cpu Load balancer CPU utilization (percentage).",
                "# TYPE octavia_loadbalancer_cpu gauge",
                f"octavia_loadbalancer_cpu {cpu:.1f}",
                "# HELP octavia_loadbalancer_memory Load balancer memory utilization "
                "(percentage).",
                "# TYPE octavia_loadbalancer_memory gauge",
                f"octavia_loadbalancer_memory {memory:.1f}"]


def translate(exposition: str, utilisation: Utilisation) -> str:
    lines = utilisation.lines()
    for line in exposition.splitlines():
        renamed = _rename_line(line)
        if renamed is not None:
            lines.append(renamed)
    return "\n".join(lines) + "\n"


def _fetch_exporter() -> str:
    """The exporter's text (HTTP/1.0: HAProxy answers without chunks and closes)."""
    with socket.create_connection(EXPORTER, timeout=TIMEOUT) as conn:
        conn.sendall(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or status[1] != b"200":
        raise OSError(f"exporter answered {head[:80]!r}")
    return body.decode("utf-8", "replace")


def _answer(conn: socket.socket, utilisation: Utilisation) -> None:
    conn.settimeout(TIMEOUT)
    request = b""
    while b"\r\n\r\n" not in request and len(request) < MAX_REQUEST:
        chunk = conn.recv(4096)
        if not chunk:
            return
        request += chunk
    try:
        body, status = translate(_fetch_exporter(), utilisation).encode(), b"200 OK"
    except OSError as exc:
        body, status = f"metrics unavailable: {exc}\n".encode(), b"502 Bad Gateway"
    conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain; version=0.0.4\r\n"
                 b"Cache-Control: no-cache\r\nConnection: close\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def serve(stopping: threading.Event, log: Callable[[str], None],
          utilisation: Utilisation) -> None:
    """Answer scrapes on PROXY until ``stopping`` (one at a time: HAProxy queues)."""
    try:
        server = socket.create_server(PROXY, backlog=16)
    except OSError as exc:
        log(f"metrics proxy cannot listen on {PROXY[0]}:{PROXY[1]}: {exc}")
        return
    server.settimeout(0.5)
    with server:
        while not stopping.is_set():
            try:
                conn, _ = server.accept()
            except socket.timeout:
                continue
            with conn:
                try:
                    _answer(conn, utilisation)
                except OSError as exc:
                    log(f"metrics proxy: {exc}")
