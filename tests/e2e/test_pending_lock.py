"""The default (relaxed) pending lock with real amphorae: changes sent while the load
balancer converges are all applied, and it ends ACTIVE."""
from __future__ import annotations

import collections

import openstack
import pytest

from tests.e2e.harness import PortusLab, wait_for

pytestmark = pytest.mark.e2e


def test_member_creates_in_a_row(lab: PortusLab, sdk: openstack.connection.Connection) -> None:
    backends = [lab.backend(f"be{i}", i) for i in range(4)]
    lb = sdk.load_balancer.create_load_balancer(
        name="e2e-relaxed", project_id="e2e-project", vip_subnet_id=lab.subnet.id,
        listeners=[{"name": "http", "protocol": "HTTP", "protocol_port": 80,
                    "default_pool": {"name": "web", "protocol": "HTTP",
                                     "lb_algorithm": "ROUND_ROBIN"}}])
    pool = next(sdk.load_balancer.pools(loadbalancer_id=lb.id))
    # No waiting: the first creates land while the load balancer is still PENDING_CREATE.
    for be in backends:
        sdk.load_balancer.create_member(pool.id, name=be.name, address=be.address,
                                        protocol_port=be.port)
    wait_for("ACTIVE", lambda: sdk.load_balancer.get_load_balancer(lb.id)
             .provisioning_status == "ACTIVE", 60, 0.1)
    members = list(sdk.load_balancer.members(pool.id))
    assert sorted(m.name for m in members) == [be.name for be in backends]
    assert {m.provisioning_status for m in members} == {"ACTIVE"}
    want = {f"hello from {be.name}" for be in backends}

    def all_answer() -> bool:
        seen = collections.Counter(lab.get(lb.vip_address) or "error" for _ in range(12))
        return set(seen) == want

    wait_for("every member answers", all_answer, 20)
