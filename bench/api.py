#!/usr/bin/env python3
"""Control-plane figures for portus, and for Octavia in the same run.

For each endpoint: seed N load balancers (default 1,000), each with 2 listeners,
2 pools and 10 members (5 per pool) made by fully populated creates; then
  - list (default page), show, status tree: median and p99 latency;
  - member create: median and p99 latency of the POST (on distinct ACTIVE LBs);
  - load balancer creates per second with 1 and with 8 concurrent clients.
Only loopback endpoints are accepted. Loops are bounded in count and time.

portus is started here with the `noop` provider (no amphorae: only the control plane
is measured) on its own database; `--octavia URL` adds the real Octavia API started by
../shared/anchors/octavia/start.sh (noop compute/network/amphora drivers) and prints
portus/Octavia ratios. Both are seeded first; then each figure is taken on portus and
at once on Octavia, so the load of a shared machine weighs on both sides of a ratio.
Prints figures and the load average; asserts nothing.

  .venv/bin/python bench/api.py [--lbs 1000] [--database URL] [--octavia http://127.0.0.1:19876]
                                [--seed-seconds 900]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
OCTAVIA_SUBNET = "00000000-0000-0000-0000-000000000001"  # the anchor's noop network


class Client:
    """Keep-alive HTTP per thread; noauth style (X-Project-Id)."""

    def __init__(self, endpoint: str, project: str) -> None:
        url = urllib.parse.urlsplit(endpoint)
        if url.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"refusing a non-loopback endpoint: {endpoint}")
        self.host, self.port = url.hostname, url.port or 80
        self.project = project
        self.local = threading.local()

    def _conn(self, fresh: bool) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is not None and fresh and time.monotonic() - self.local.used > _IDLE_S:
            conn.close()  # the server may be closing it (keep-alive timeout)
            conn = None
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        return conn

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One request. A GET that failed on a kept-alive connection is sent again on a
        new one; any other method never is (the server may have acted on it), and is
        sent on a fresh connection when the kept one has idled."""
        data = json.dumps(body) if body is not None else None
        headers = {"X-Project-Id": self.project, "Content-Type": "application/json",
                   "Accept": "application/json"}
        for attempt in (1, 2):
            conn = self._conn(fresh=method != "GET")
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                self.local.used = time.monotonic()
                return resp.status, (json.loads(raw) if raw else None)
            except (http.client.HTTPException, OSError):
                conn.close()
                del self.local.conn
                if attempt == 2 or method != "GET":
                    raise
        raise AssertionError("unreachable")


_IDLE_S = 1.0  # well under uvicorn's 5 s keep-alive timeout


def lb_body(subnet: str, provider: str | None, name: str) -> dict[str, Any]:
    pools = [{"name": f"p{i}", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
              "members": [{"address": f"10.{i}.0.{j + 10}", "protocol_port": 80}
                          for j in range(5)]} for i in range(2)]
    listeners = [{"protocol": "HTTP", "protocol_port": 80 + i, "default_pool": {"name": f"p{i}"}}
                 for i in range(2)]
    body: dict[str, Any] = {"name": name, "vip_subnet_id": subnet, "pools": pools,
                            "listeners": listeners}
    if provider:
        body["provider"] = provider
    return {"loadbalancer": body}


def all_lbs(api: Client) -> list[dict[str, Any]]:
    """Every load balancer (id, name, status), page by page (a page holds at most 1,000)."""
    out: list[dict[str, Any]] = []
    marker = ""
    while True:
        _, body = api.call("GET", "/v2/lbaas/loadbalancers?fields=id&fields=name"
                           "&fields=provisioning_status&limit=1000"
                           + (f"&marker={marker}" if marker else ""))
        out += body["loadbalancers"]
        if len(body["loadbalancers"]) < 1000:
            return out
        marker = body["loadbalancers"][-1]["id"]


def seeded(api: Client) -> dict[str, str]:
    """Seeded load balancers: id -> provisioning status."""
    return {lb["id"]: lb["provisioning_status"] for lb in all_lbs(api)
            if lb["name"].startswith("seed-")}


def seed(api: Client, subnet: str, provider: str | None, n: int, max_s: float) -> list[str]:
    """Up to n ACTIVE seeded load balancers (made now or by an earlier run), created
    and waited for within about max_s; those still pending then are left out."""
    have = len(seeded(api))
    started = time.monotonic()

    def one(i: int) -> None:
        if time.monotonic() - started > max_s:
            return
        try:
            api.call("POST", "/v2/lbaas/loadbalancers", lb_body(subnet, provider, f"seed-{i}"))
        except (http.client.HTTPException, OSError):  # an overloaded endpoint timed out
            pass

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(have, n)))
    while True:
        states = seeded(api)
        pending = sum(1 for v in states.values() if v.startswith("PENDING"))
        if not pending or time.monotonic() - started > max_s:
            break
        time.sleep(2)
    ids = [i for i, v in states.items() if v == "ACTIVE"][:n]
    others = len(states) - len(ids)
    print(f"  seeded {len(ids)} ACTIVE load balancers in {time.monotonic() - started:.0f} s"
          + (f" ({others} more not ACTIVE)" if others else ""), flush=True)
    return ids


def latencies(fn: Callable[[], int], reps: int, max_s: float = 120) -> list[float]:
    out: list[float] = []
    deadline = time.monotonic() + max_s
    for _ in range(reps):
        if time.monotonic() > deadline:
            break
        t0 = time.perf_counter()
        code = fn()
        if code >= 400:
            raise SystemExit(f"request failed with {code}")
        out.append(time.perf_counter() - t0)
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def create_rps(api: Client, subnet: str, provider: str | None, clients: int, total: int,
               max_s: float = 60) -> float:
    done = 0
    lock = threading.Lock()
    started = time.perf_counter()

    def worker(k: int) -> None:
        nonlocal done
        for i in range(total // clients):
            if time.perf_counter() - started > max_s:
                return
            body = {"loadbalancer": {"name": f"rps-{k}-{i}", "vip_subnet_id": subnet}}
            if provider:
                body["loadbalancer"]["provider"] = provider
            try:
                code, _ = api.call("POST", "/v2/lbaas/loadbalancers", body)
            except (http.client.HTTPException, OSError):  # not counted, not sent again
                continue
            if code == 201:
                with lock:
                    done += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done / (time.perf_counter() - started)


class Target:
    """One endpoint under test and what its figures need."""

    def __init__(self, name: str, api: Client, subnet: str, provider: str | None) -> None:
        self.name, self.api, self.subnet, self.provider = name, api, subnet, provider
        self.ids: list[str] = []
        self.pools: dict[str, str] = {}
        self.rng = random.Random()

    def pool_of(self, lb_id: str) -> str:
        if lb_id not in self.pools:
            _, body = self.api.call("GET", f"/v2/lbaas/pools?loadbalancer_id={lb_id}&fields=id")
            self.pools[lb_id] = body["pools"][0]["id"]
        return self.pools[lb_id]

    def figure(self, key: str) -> list[float] | float:
        api, rng, ids = self.api, self.rng, self.ids
        if key == "list":
            return latencies(lambda: api.call("GET", "/v2/lbaas/loadbalancers")[0], 20)
        if key == "show":
            return latencies(
                lambda: api.call("GET", f"/v2/lbaas/loadbalancers/{rng.choice(ids)}")[0], 300)
        if key == "status tree":
            return latencies(lambda: api.call(
                "GET", f"/v2/lbaas/loadbalancers/{rng.choice(ids)}/status")[0], 300)
        if key == "member create":
            targets = rng.sample(ids, min(100, len(ids)))
            for lb_id in targets:
                self.pool_of(lb_id)
            it = iter(targets)
            return latencies(lambda: api.call(
                "POST", f"/v2/lbaas/pools/{self.pool_of(next(it))}/members",
                {"member": {"address": f"10.9.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
                            "protocol_port": rng.randint(1024, 65535)}})[0], len(targets))
        clients, total = {"creates/s, 1 client": (1, 150), "creates/s, 8 clients": (8, 400)}[key]
        return create_rps(api, self.subnet, self.provider, clients, total)


FIGURES = ("list", "show", "status tree", "member create", "creates/s, 1 client",
           "creates/s, 8 clients")


def measure(targets: list[Target], n: int, seed_s: float) -> dict[str, dict[str, Any]]:
    """Seed every target, then take each figure on every target in turn, so a change in
    the machine's load (shared machines) shifts both sides of a ratio alike."""
    for target in targets:
        print(f"{target.name}:", flush=True)
        target.ids = seed(target.api, target.subnet, target.provider, n, max_s=seed_s)
    results: dict[str, dict[str, Any]] = {t.name: {} for t in targets}
    for key in FIGURES:
        for target in targets:
            value = target.figure(key)
            results[target.name][key] = value
            if isinstance(value, list):
                print(f"  {target.name:<8} {key:<22} median {statistics.median(value) * 1000:8.2f} ms"
                      f"   p99 {pct(value, 99) * 1000:8.2f} ms   ({len(value)} requests)",
                      flush=True)
            else:
                print(f"  {target.name:<8} {key:<22} {value:8.1f}", flush=True)
    return results


def start_portus(tmp: Path, database: str, port: int) -> subprocess.Popen[bytes]:
    config = tmp / "portus.toml"
    config.write_text(f"""
data_dir = "{tmp}"
run_dir = "{tmp}/run"
log_level = "WARNING"
[api]
bind_port = {port}
default_provider_driver = "noop"
[database]
connection = "{database}"
[house_keeping]
interval = 3600.0
[network.management]
bridge = "pbench-mgmt"
cidr = "198.18.250.0/24"
[[network.subnets]]
name = "bench"
cidr = "10.96.0.0/16"
bridge = "pbench-vip"
""")
    proc = subprocess.Popen([sys.executable, "-m", "portus.cli", "--config", str(config), "up"],
                            stdout=open(tmp / "portus.log", "ab"), stderr=subprocess.STDOUT)
    api = Client(f"http://127.0.0.1:{port}", "bench")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if api.call("GET", "/")[0] == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"portus did not start; see {tmp / 'portus.log'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lbs", type=int, default=1000)
    parser.add_argument("--database", default="", help="SQLAlchemy URL for portus "
                        "(default: SQLite in a temporary directory)")
    parser.add_argument("--port", type=int, default=19880)
    parser.add_argument("--octavia", default="", help="also measure this Octavia endpoint")
    parser.add_argument("--seed-seconds", type=float, default=900,
                        help="stop seeding an endpoint, and waiting for its seeded load "
                        "balancers to turn ACTIVE, after this long (the figures use the "
                        "ACTIVE ones; seeded load balancers are reused by the next run)")
    args = parser.parse_args()
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="portus-api-bench-") as tmp:
        database = args.database or f"sqlite:///{tmp}/portus.db"
        proc = start_portus(Path(tmp), database, args.port)
        try:
            sys.path.insert(0, str(ROOT))
            from portus.common.config import SubnetConfig
            subnet = SubnetConfig(name="bench", cidr="10.96.0.0/16")
            subnet.finish(0)
            print(f"portus: noop provider, {database.split(':')[0]}", flush=True)
            targets = [Target("portus", Client(f"http://127.0.0.1:{args.port}", "bench"),
                              subnet.id, "noop")]
            if args.octavia:
                print("Octavia: amphora provider, noop drivers", flush=True)
                targets.append(Target("Octavia", Client(args.octavia, "bench"), OCTAVIA_SUBNET,
                                      None))
            results = measure(targets, args.lbs, args.seed_seconds)
        finally:
            proc.terminate()
            proc.wait(30)
            subprocess.run(["ip", "link", "del", "pbench-mgmt"], capture_output=True)
            subprocess.run(["ip", "link", "del", "pbench-vip"], capture_output=True)
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    if args.octavia:
        print("portus vs Octavia (how many times better; goal ≥ 3):")
        for key, ours in results["portus"].items():
            theirs = results["Octavia"][key]
            if isinstance(ours, list):
                print(f"  {key:<22} median {statistics.median(theirs) / statistics.median(ours):6.1f}x"
                      f"   p99 {pct(theirs, 99) / pct(ours, 99):6.1f}x")
            else:
                print(f"  {key:<22} {ours / theirs:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
