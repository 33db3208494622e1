#!/usr/bin/env python3
"""Provisioning speed and amphora memory, measured on this machine.

Starts its own portus (`portus up` in a subprocess, private bridges, networks and
ports, as the end-to-end tests do) and two backends, then 5 times: POST a fully
populated load balancer (listener, pool, 2 members, HTTP health monitor) and time
  - POST -> provisioning_status ACTIVE (polled every 10 ms),
  - POST -> first HTTP 200 through the VIP (probed every 5 ms from the host).
Baseline in the same run: the floor for a bare namespace + veth + HAProxy to its
first answer, without portus. Then the resident memory of one idle amphora (its
agent plus HAProxy master and worker). Prints figures; asserts nothing.

Run as root from the project root: .venv/bin/python bench/provision.py
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from portus.drivers import ipcmd  # noqa: E402
from tests.e2e.harness import PortusLab, kill_and_wait, wait_for  # noqa: E402

RUNS = 5


def api(lab: PortusLab, method: str, path: str, body: Any = None) -> Any:
    req = urllib.request.Request(lab.endpoint + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json",
                                          "X-Project-Id": "bench"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def one_run(lab: PortusLab, backends: list[Any]) -> tuple[float, float, str]:
    body = {"loadbalancer": {"name": "bench", "vip_subnet_id": lab.subnet.id, "listeners": [{
        "protocol": "HTTP", "protocol_port": 80, "default_pool": {
            "name": "p", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
            "healthmonitor": {"type": "HTTP", "delay": 1, "timeout": 1, "max_retries": 1},
            "members": [{"address": b.address, "protocol_port": b.port} for b in backends]}}]}}
    first: list[float] = []
    started = time.perf_counter()
    lb = api(lab, "POST", "/v2/lbaas/loadbalancers", body)["loadbalancer"]
    vip = lb["vip_address"]

    def probe() -> None:
        while time.perf_counter() - started < 30:
            if lab.get(vip, timeout=0.1):
                first.append(time.perf_counter() - started)
                return
            time.sleep(0.005)

    prober = threading.Thread(target=probe)
    prober.start()
    wait_for("ACTIVE", lambda: api(lab, "GET", f"/v2/lbaas/loadbalancers/{lb['id']}")
             ["loadbalancer"]["provisioning_status"] == "ACTIVE", 30, 0.01)
    active = time.perf_counter() - started
    prober.join()
    if not first:
        raise SystemExit("the VIP never answered")
    return active, first[0], lb["id"]


def delete(lab: PortusLab, lb_id: str) -> None:
    api(lab, "DELETE", f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true")

    def gone() -> bool:
        try:
            api(lab, "GET", f"/v2/lbaas/loadbalancers/{lb_id}")
            return False
        except urllib.error.HTTPError as exc:
            return exc.code == 404

    wait_for("delete", gone, 30, 0.05)


def floor(lab: PortusLab, backend: Any, root: Path, run: int) -> float:
    """Bare namespace + veth + address + HAProxy, to its first answer (no portus)."""
    ns, ifname = f"{lab.prefix}floor", f"{lab.ifprefix}fl"
    # A fresh address per run: the host's ARP entry for the last one is stale.
    address = str(lab.subnet.network.network_address + 250 - run)
    cfg = root / "floor.cfg"
    cfg.write_text(f"global\n    maxconn 1000\ndefaults\n    mode http\n    timeout connect 5s\n"
                   f"    timeout client 5s\n    timeout server 5s\nfrontend f\n"
                   f"    bind {address}:80\n    default_backend b\nbackend b\n"
                   f"    server s {backend.address}:{backend.port}\n")
    started = time.perf_counter()
    ipcmd.netns_add(ns)
    ipcmd.run(["link", "set", "lo", "up"], netns=ns)
    lab.network.plug(ns, ifname, "eth0", lab.subnet.bridge, address, lab.subnet.network.prefixlen)
    proc = subprocess.Popen(["ip", "netns", "exec", ns, "haproxy", "-W", "-f", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=open(root / "floor.log", "ab"))
    try:
        wait_for("floor haproxy", lambda: lab.get(address, timeout=0.5), 10, 0.005)
        return time.perf_counter() - started
    except AssertionError:
        print((root / "floor.log").read_text(), file=sys.stderr)
        raise
    finally:
        kill_and_wait(ipcmd.netns_pids(ns) + [proc.pid])
        proc.wait()
        lab.network.unplug(ifname)
        ipcmd.netns_delete(ns)


def memory(lab: PortusLab) -> tuple[float, float]:
    """RSS and PSS (MB) of every process in the one amphora namespace."""
    rss = pss = 0
    for pid in lab.amphora_pids():
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1])
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss += int(line.split()[1])
    return rss / 1024, pss / 1024


def fmt(values: list[float]) -> str:
    return (f"median {statistics.median(values) * 1000:7.1f} ms  "
            f"[{min(values) * 1000:.1f} .. {max(values) * 1000:.1f}]")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="portus-bench-") as tmp:
        lab = PortusLab(Path(tmp))
        try:
            lab.network.ensure_networks()
            lab.start()
            backends = [lab.backend("b1", 0), lab.backend("b2", 1)]
            floors = [floor(lab, backends[0], Path(tmp), i) for i in range(RUNS)]
            actives, firsts = [], []
            for i in range(RUNS):
                active, first, lb_id = one_run(lab, backends)
                actives.append(active)
                firsts.append(first)
                if i < RUNS - 1:
                    delete(lab, lb_id)
            time.sleep(3)  # idle: health checks and heartbeats only
            rss, pss = memory(lab)
            n_procs = len(lab.amphora_pids())
        finally:
            lab.cleanup()
    print(f"provisioning a fully populated load balancer, {RUNS} runs:")
    print(f"  POST -> ACTIVE                 {fmt(actives)}")
    print(f"  POST -> first answer on VIP    {fmt(firsts)}")
    print(f"  baseline: bare netns + HAProxy -> first answer  {fmt(floors)}")
    print(f"  ratio first answer / baseline  {statistics.median(firsts) / statistics.median(floors):.1f}x"
          f"   (target: under 2 s)")
    print(f"one idle amphora ({n_procs} processes: agent, HAProxy master and worker):")
    print(f"  RSS {rss:.1f} MB   PSS {pss:.1f} MB   (target: RSS under 40 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
