"""L7 policies through openstacksdk and a real amphora: routing, reject, redirect."""
from __future__ import annotations

import socket
from typing import Any

import openstack
import pytest

from tests.e2e.harness import PROJECT, PortusLab, wait_active, wait_for

pytestmark = pytest.mark.e2e


def _request(lab: PortusLab, address: str, path: str, port: int = 80) -> tuple[int, dict[str, str], str]:
    """One HTTP/1.0 request; (status, lower-cased headers, body), or (0, {}, "") on error."""
    lab._check_target(address)  # only our own bridges
    try:
        with socket.create_connection((address, port), timeout=2) as conn:
            conn.sendall(f"GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n".encode())
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
    except OSError:
        return 0, {}, ""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) < 2 or not parts[1].isdigit():
        return 0, {}, ""
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.partition(":") for line in lines[1:])}
    return int(parts[1]), headers, body.decode(errors="replace").strip()




def test_l7_routing_reject_and_redirect(lab: PortusLab,
                                        sdk: openstack.connection.Connection) -> None:
    be_a, be_b = lab.backend("a", 0), lab.backend("b", 1)

    def pool(name: str, backend: Any) -> dict[str, Any]:
        return {"name": name, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                "members": [{"address": backend.address, "protocol_port": backend.port}]}

    lb = sdk.load_balancer.create_load_balancer(
        name="l7", project_id=PROJECT, vip_subnet_id=lab.subnet.id,
        pools=[pool("A", be_a), pool("B", be_b)],
        listeners=[{"name": "http", "protocol": "HTTP", "protocol_port": 80,
                    "default_pool": {"name": "A"}}])
    wait_active(sdk, lb.id)
    vip = lb.vip_address
    listener = next(sdk.load_balancer.listeners(loadbalancer_id=lb.id))
    pools = {p.name: p for p in sdk.load_balancer.pools(loadbalancer_id=lb.id)}
    wait_for("traffic to A", lambda: lab.get(vip, path="/api/x") == "hello from a", 20)

    # PATH STARTS_WITH /api -> pool B; the rule is added on its own.
    to_b = sdk.load_balancer.create_l7_policy(
        listener_id=listener.id, action="REDIRECT_TO_POOL", redirect_pool_id=pools["B"].id)
    wait_active(sdk, lb.id)
    sdk.load_balancer.create_l7_rule(to_b, type="PATH", compare_type="STARTS_WITH", value="/api")
    wait_active(sdk, lb.id)
    # REJECT /private (403), with its rule in the policy body.
    sdk.load_balancer.create_l7_policy(
        listener_id=listener.id, action="REJECT",
        rules=[{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/private"}])
    wait_active(sdk, lb.id)
    # REDIRECT_TO_URL for /old (302 with Location), placed first.
    moved = sdk.load_balancer.create_l7_policy(
        listener_id=listener.id, action="REDIRECT_TO_URL", position=1,
        redirect_url="http://example.com/new?from='old'",
        rules=[{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/old"}])
    wait_active(sdk, lb.id)

    assert [p.position for p in sdk.load_balancer.l7_policies(listener_id=listener.id)
            if p.id == moved.id] == [1]
    assert lab.get(vip, path="/") == "hello from a"
    assert lab.get(vip, path="/api/users") == "hello from b"
    assert lab.get(vip, path="/apix") == "hello from b"  # STARTS_WITH
    assert lab.get(vip, path="/v1/api") == "hello from a"
    status, _, _ = _request(lab, vip, "/private/x")
    assert status == 403
    status, headers, _ = _request(lab, vip, "/old/page")
    assert status == 302 and headers["location"] == "http://example.com/new?from='old'"

    tree = sdk.load_balancer.get(f"/lbaas/loadbalancers/{lb.id}/status").json()
    listed = tree["statuses"]["loadbalancer"]["listeners"][0]["pools"]
    assert {p["name"] for p in listed} == {"A", "B"}
    # Heartbeats cover the redirect pool too.
    wait_for("pool B ONLINE", lambda: sdk.load_balancer.get_pool(
        pools["B"].id).operating_status == "ONLINE", 20)

    # Disabling the routing policy sends /api back to the default pool.
    sdk.load_balancer.update_l7_policy(to_b, is_admin_state_up=False)
    wait_active(sdk, lb.id)
    assert lab.get(vip, path="/api/users") == "hello from a"
    assert _request(lab, vip, "/private")[0] == 403

    sdk.load_balancer.delete_load_balancer(lb.id, cascade=True)
    wait_for("the load balancer gone",
             lambda: sdk.load_balancer.find_load_balancer(lb.id) is None, 30, 0.1)
