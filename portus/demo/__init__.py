"""`portus demo`: two backends in their own namespaces and a load balancer in front.

Everything goes through the public API, as a tenant would. What the demo makes is
recorded in <data_dir>/demo.json so `portus demo --cleanup` can remove it.
"""
from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from portus.common.config import Config, SubnetConfig
from portus.drivers import ipcmd
from portus.drivers.network.linux_bridge import LinuxBridgeNetwork

LB_NAME = "portus-demo"
BACKENDS = ("be1", "be2")
BACKEND_PORT = 8080
PROJECT = "demo"


class DemoError(Exception):
    pass


def _api(endpoint: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(endpoint + path, data=data, method=method, headers={
        "Content-Type": "application/json", "Accept": "application/json",
        "X-Project-Id": PROJECT})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        raise DemoError(f"{method} {path}: {exc.code} {exc.read().decode(errors='replace')}") from None
    except urllib.error.URLError as exc:
        raise DemoError(f"cannot reach the portus API at {endpoint} ({exc.reason}); "
                        f"is `make run` (portus up) running?") from None
    return json.loads(raw) if raw else None


def _state_path(cfg: Config) -> Path:
    return Path(cfg.data_dir) / "demo.json"


def _backend_addresses(subnet: SubnetConfig) -> list[str]:
    # The top of the subnet, outside the VIP allocation range.
    last = subnet.network.broadcast_address
    return [str(last - 1 - i) for i in range(len(BACKENDS))]


def _start_backend(cfg: Config, subnet: SubnetConfig, name: str, address: str,
                   network: LinuxBridgeNetwork, log_dir: Path) -> int:
    namespace = f"portus-demo-{name}"
    ipcmd.netns_add(namespace)
    ipcmd.run(["link", "set", "lo", "up"], netns=namespace)
    network.plug(namespace, f"pdemo-{name}", "eth0", subnet.bridge, address,
                 subnet.network.prefixlen)
    log = open(log_dir / f"{name}.log", "ab")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", namespace, sys.executable, "-m", "portus.demo.backend", name,
         str(BACKEND_PORT), address],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    return proc.pid


def _wait(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise DemoError(f"timed out waiting for {what}")


def _get(url: str, timeout: float = 2.0) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return str(resp.read().decode().strip())
    except (urllib.error.URLError, OSError):
        return None


def run(cfg: Config, endpoint: str | None) -> int:
    endpoint = (endpoint or f"http://{cfg.api.bind_host}:{cfg.api.bind_port}").rstrip("/")
    if _state_path(cfg).exists():
        print(f"a demo already exists ({_state_path(cfg)}); run `portus demo --cleanup` first")
        return 1
    subnet = cfg.network.subnets[0]
    try:
        _api(endpoint, "GET", "/")
        network = LinuxBridgeNetwork(cfg.network)
        network.ensure_networks()
        log_dir = Path(cfg.data_dir) / "demo"
        log_dir.mkdir(parents=True, exist_ok=True)
        state: dict[str, Any] = {"backends": {}, "lb_id": None}
        for name, address in zip(BACKENDS, _backend_addresses(subnet)):
            pid = _start_backend(cfg, subnet, name, address, network, log_dir)
            state["backends"][name] = {"pid": pid, "address": address}
            print(f"backend {name}: http://{address}:{BACKEND_PORT} (namespace portus-demo-{name})")
        _state_path(cfg).write_text(json.dumps(state))
        for name, info in state["backends"].items():
            _wait(f"backend {name}", lambda a=info["address"]: _get(f"http://{a}:{BACKEND_PORT}/"), 10)

        started = time.monotonic()
        body = {"loadbalancer": {
            "name": LB_NAME, "vip_subnet_id": subnet.id,
            "listeners": [{"name": "http", "protocol": "HTTP", "protocol_port": 80,
                           "default_pool": {
                               "name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                               "healthmonitor": {"type": "HTTP", "delay": 1, "timeout": 1,
                                                 "max_retries": 1, "max_retries_down": 2,
                                                 "url_path": "/"},
                               "members": [{"name": n, "address": b["address"],
                                            "protocol_port": BACKEND_PORT, "subnet_id": subnet.id}
                                           for n, b in state["backends"].items()]}}]}}
        lb = _api(endpoint, "POST", "/v2/lbaas/loadbalancers", body)["loadbalancer"]
        state["lb_id"] = lb["id"]
        _state_path(cfg).write_text(json.dumps(state))
        vip = lb["vip_address"]
        print(f"load balancer {lb['id']} created, VIP {vip}; waiting for ACTIVE ...")

        def active() -> bool:
            cur = _api(endpoint, "GET", f"/v2/lbaas/loadbalancers/{lb['id']}")["loadbalancer"]
            if cur["provisioning_status"] == "ERROR":
                raise DemoError(f"load balancer went to ERROR: {cur.get('status_reason')}")
            return bool(cur["provisioning_status"] == "ACTIVE")

        _wait("ACTIVE", active, 60)
        print(f"ACTIVE after {time.monotonic() - started:.2f} s")
        _wait("the VIP to answer", lambda: _get(f"http://{vip}/"), 30)

        def members_online() -> bool:
            tree = _api(endpoint, "GET", f"/v2/lbaas/loadbalancers/{lb['id']}/status")
            members = tree["statuses"]["loadbalancer"]["listeners"][0]["pools"][0]["members"]
            return all(mb["operating_status"] == "ONLINE" for mb in members)

        _wait("both members ONLINE", members_online, 30)
        spread: collections.Counter[str] = collections.Counter()
        for _ in range(20):
            spread[_get(f"http://{vip}/") or "error"] += 1
        print(f"20 requests to http://{vip}/:")
        for answer, count in sorted(spread.items()):
            print(f"  {count:3d}  {answer}")
    except DemoError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    auth = f"--os-auth-type none --os-endpoint {endpoint}"
    print(f"""
Go on by hand:
  curl http://{vip}/
  openstack {auth} loadbalancer show {LB_NAME}
  openstack {auth} loadbalancer status show {LB_NAME}
  openstack {auth} loadbalancer member list web
Remove it all with: portus demo --cleanup""")
    return 0


def cleanup(cfg: Config, endpoint: str | None = None) -> int:
    endpoint = (endpoint or f"http://{cfg.api.bind_host}:{cfg.api.bind_port}").rstrip("/")
    path = _state_path(cfg)
    state = json.loads(path.read_text()) if path.exists() else {"backends": {}, "lb_id": None}
    if state.get("lb_id"):
        try:
            _api(endpoint, "DELETE", f"/v2/lbaas/loadbalancers/{state['lb_id']}?cascade=true")
            print(f"deleting load balancer {state['lb_id']} ...")

            def gone() -> bool:
                try:
                    _api(endpoint, "GET", f"/v2/lbaas/loadbalancers/{state['lb_id']}")
                    return False
                except DemoError as exc:
                    return " 404 " in str(exc)

            _wait("the load balancer to be deleted", gone, 60)
        except DemoError as exc:
            print(f"could not delete the load balancer: {exc}", file=sys.stderr)
    for name in BACKENDS:
        info = state["backends"].get(name, {})
        namespace = f"portus-demo-{name}"
        for pid in ([info["pid"]] if info.get("pid") else []) + (
                ipcmd.netns_pids(namespace) if ipcmd.netns_exists(namespace) else []):
            if ipcmd.pid_alive(pid):
                os.kill(pid, signal.SIGTERM)
        LinuxBridgeNetwork(cfg.network).unplug(f"pdemo-{name}")
        ipcmd.netns_delete(namespace)
    path.unlink(missing_ok=True)
    print("demo removed.")
    return 0

