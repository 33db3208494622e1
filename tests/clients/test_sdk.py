"""openstacksdk, unchanged, against portus over HTTP: every resource family, no Keystone."""
from __future__ import annotations

from typing import Any

import pytest
from openstack import exceptions as sdk_exc

from tests.clients.conftest import Portus

PROJECT = "p-sdk"


def wait(sdk: Any, lb_id: str) -> Any:
    return sdk.load_balancer.wait_for_load_balancer(lb_id, interval=0.05, wait=15)


def test_version_discovery_and_empty_lists(sdk: Any) -> None:
    assert sdk.load_balancer.get_api_major_version()[0] == 2
    assert list(sdk.load_balancer.load_balancers()) == []
    assert list(sdk.load_balancer.listeners()) == []
    assert list(sdk.load_balancer.pools()) == []
    assert list(sdk.load_balancer.health_monitors()) == []


def test_loadbalancer_lifecycle(sdk: Any, portus: Portus) -> None:
    lb = sdk.load_balancer.create_load_balancer(
        name="lb1", description="first", vip_subnet_id=portus.subnet.id, project_id=PROJECT,
        tags=["a", "b"])
    assert lb.provisioning_status == "PENDING_CREATE"
    assert lb.vip_subnet_id == portus.subnet.id and lb.vip_address
    lb = wait(sdk, lb.id)
    assert lb.provisioning_status == "ACTIVE"
    assert sdk.load_balancer.find_load_balancer("lb1").id == lb.id
    assert [x.id for x in sdk.load_balancer.load_balancers(name="lb1")] == [lb.id]
    assert [x.id for x in sdk.load_balancer.load_balancers(project_id="nobody")] == []

    lb = sdk.load_balancer.update_load_balancer(lb, name="lb1b", admin_state_up=False)
    assert lb.name == "lb1b" and lb.is_admin_state_up is False
    lb = wait(sdk, lb.id)
    assert sdk.load_balancer.get_load_balancer(lb.id).name == "lb1b"
    stats = sdk.load_balancer.get_load_balancer_statistics(lb.id)
    assert stats.bytes_in == 0 and stats.total_connections == 0

    sdk.load_balancer.delete_load_balancer(lb.id)
    sdk.load_balancer.wait_for_delete(lb, interval=0.05, wait=15)
    assert sdk.load_balancer.find_load_balancer(lb.id) is None
    with pytest.raises(sdk_exc.NotFoundException):
        sdk.load_balancer.get_load_balancer(lb.id)


def test_change_while_pending(sdk: Any, portus: Portus) -> None:
    """Octavia's 409 in strict mode; otherwise the change is queued and converges."""
    with portus.worker.paused():
        lb = sdk.load_balancer.create_load_balancer(vip_subnet_id=portus.subnet.id,
                                                    project_id=PROJECT)
        if getattr(portus.cfg.api, "strict_pending_lock", True):
            with pytest.raises(sdk_exc.ConflictException):
                sdk.load_balancer.update_load_balancer(lb, name="x")
        else:
            sdk.load_balancer.update_load_balancer(lb, name="x")
        assert sdk.load_balancer.get_load_balancer(lb.id).provisioning_status.startswith(
            "PENDING_")
    lb = wait(sdk, lb.id)
    assert lb.provisioning_status == "ACTIVE"


def test_bad_request_is_a_client_error(sdk: Any) -> None:
    with pytest.raises(sdk_exc.BadRequestException) as info:
        sdk.load_balancer.create_load_balancer(vip_subnet_id="not-a-uuid", project_id=PROJECT)
    assert "vip_subnet_id" in str(info.value)


def test_listener_pool_member_healthmonitor(sdk: Any, portus: Portus) -> None:
    lb = wait(sdk, sdk.load_balancer.create_load_balancer(
        name="lb", vip_subnet_id=portus.subnet.id, project_id=PROJECT).id)

    listener = sdk.load_balancer.create_listener(
        name="web", loadbalancer_id=lb.id, protocol="HTTP", protocol_port=80,
        connection_limit=100, insert_headers={"X-Forwarded-For": "true"})
    wait(sdk, lb.id)
    listener = sdk.load_balancer.get_listener(listener.id)
    assert listener.provisioning_status == "ACTIVE" and listener.connection_limit == 100
    assert listener.insert_headers == {"X-Forwarded-For": "true"}
    listener = sdk.load_balancer.update_listener(listener, description="front")
    wait(sdk, lb.id)
    assert sdk.load_balancer.find_listener("web").description == "front"
    assert sdk.load_balancer.get_listener_statistics(listener.id).bytes_out == 0

    pool = sdk.load_balancer.create_pool(
        name="pool", listener_id=listener.id, protocol="HTTP", lb_algorithm="ROUND_ROBIN",
        session_persistence={"type": "HTTP_COOKIE"})
    wait(sdk, lb.id)
    assert sdk.load_balancer.get_listener(listener.id).default_pool_id == pool.id
    pool = sdk.load_balancer.update_pool(pool, lb_algorithm="LEAST_CONNECTIONS")
    wait(sdk, lb.id)
    pool = sdk.load_balancer.find_pool("pool")
    assert pool.lb_algorithm == "LEAST_CONNECTIONS"
    assert pool.session_persistence == {"type": "HTTP_COOKIE", "cookie_name": None,
                                        "persistence_timeout": None,
                                        "persistence_granularity": None}

    m1 = sdk.load_balancer.create_member(pool, name="m1", address="198.18.1.20",
                                         protocol_port=8080, subnet_id=portus.subnet.id, weight=5)
    wait(sdk, lb.id)
    backends = portus.cfg.network.subnets[1]  # a member subnet other than the VIP subnet
    m2 = sdk.load_balancer.create_member(pool, name="m2", address="198.18.2.21",
                                         protocol_port=8080, subnet_id=backends.id)
    wait(sdk, lb.id)
    assert m2.subnet_id == backends.id
    members = {m.name: m for m in sdk.load_balancer.members(pool)}
    assert set(members) == {"m1", "m2"} and members["m1"].weight == 5
    assert members["m2"].provisioning_status == "ACTIVE"
    m1 = sdk.load_balancer.update_member(m1, pool, weight=10, backup=True)
    wait(sdk, lb.id)
    got = sdk.load_balancer.get_member(m1, pool)
    assert got.weight == 10 and got.backup is True
    assert sdk.load_balancer.find_member("m2", pool).id == m2.id

    hm = sdk.load_balancer.create_health_monitor(
        pool_id=pool.id, type="HTTP", delay=5, timeout=3, max_retries=2, url_path="/health",
        expected_codes="200-204")
    wait(sdk, lb.id)
    hm = sdk.load_balancer.update_health_monitor(hm, delay=7, max_retries_down=4)
    wait(sdk, lb.id)
    hm = sdk.load_balancer.get_health_monitor(hm.id)
    assert (hm.delay, hm.max_retries_down, hm.url_path) == (7, 4, "/health")
    assert [h.id for h in sdk.load_balancer.health_monitors(pool_id=pool.id)] == [hm.id]

    # Children one by one, then the load balancer.
    sdk.load_balancer.delete_health_monitor(hm)
    wait(sdk, lb.id)
    sdk.load_balancer.delete_member(m2, pool)
    wait(sdk, lb.id)
    assert [m.name for m in sdk.load_balancer.members(pool)] == ["m1"]
    sdk.load_balancer.delete_pool(pool)
    wait(sdk, lb.id)
    sdk.load_balancer.delete_listener(listener)
    wait(sdk, lb.id)
    assert sdk.load_balancer.find_listener("web") is None
    with pytest.raises(sdk_exc.NotFoundException):
        sdk.load_balancer.get_pool(pool.id)
    sdk.load_balancer.delete_load_balancer(lb)
    sdk.load_balancer.wait_for_delete(lb, interval=0.05, wait=15)


def test_fully_populated_create_and_cascade_delete(sdk: Any, portus: Portus) -> None:
    lb = sdk.load_balancer.create_load_balancer(
        name="full", vip_subnet_id=portus.subnet.id, project_id=PROJECT,
        listeners=[{"name": "http", "protocol": "HTTP", "protocol_port": 80,
                    "default_pool": {"name": "app"}},
                   {"name": "tcp", "protocol": "TCP", "protocol_port": 5000,
                    "default_pool": {"name": "raw", "protocol": "TCP",
                                     "lb_algorithm": "SOURCE_IP"}}],
        pools=[{"name": "app", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                "members": [{"address": "198.18.1.50", "protocol_port": 80},
                            {"address": "198.18.1.51", "protocol_port": 80, "weight": 3}],
                "healthmonitor": {"type": "HTTP", "delay": 3, "timeout": 2,
                                  "max_retries": 3}}])
    assert len(lb.listeners) == 2 and len(lb.pools) == 2
    lb = wait(sdk, lb.id)
    pools = {p.name: p for p in sdk.load_balancer.pools(loadbalancer_id=lb.id)}
    assert set(pools) == {"app", "raw"}
    assert all(p.provisioning_status == "ACTIVE" for p in pools.values())
    assert pools["app"].health_monitor_id
    assert len(list(sdk.load_balancer.members(pools["app"]))) == 2
    listeners = {li.name: li for li in sdk.load_balancer.listeners(loadbalancer_id=lb.id)}
    assert listeners["http"].default_pool_id == pools["app"].id
    assert listeners["tcp"].default_pool_id == pools["raw"].id

    with pytest.raises(sdk_exc.BadRequestException):
        sdk.load_balancer.delete_load_balancer(lb)  # it has children
    sdk.load_balancer.delete_load_balancer(lb, cascade=True)
    sdk.load_balancer.wait_for_delete(lb, interval=0.05, wait=15)
    assert list(sdk.load_balancer.pools()) == [] and list(sdk.load_balancer.listeners()) == []


def test_paging_with_the_sdk(sdk: Any, portus: Portus) -> None:
    for i in range(5):
        sdk.load_balancer.create_load_balancer(name=f"lb{i}", vip_subnet_id=portus.subnet.id,
                                               project_id=PROJECT)
    portus.settle()
    # The SDK follows the "next" links page by page.
    names = [lb.name for lb in sdk.load_balancer.load_balancers(limit=2)]
    assert sorted(names) == ["lb0", "lb1", "lb2", "lb3", "lb4"]
    assert [lb.name for lb in sdk.load_balancer.load_balancers(
        provisioning_status="ACTIVE", name="lb3")] == ["lb3"]


def test_networking_shim_through_the_sdk(sdk: Any, portus: Portus) -> None:
    """The network service, found through the one endpoint, answers for portus's subnets."""
    subnet = sdk.network.find_subnet("backends")
    assert subnet is not None and subnet.id == portus.cfg.network.subnets[1].id
    assert subnet.cidr == "198.18.2.0/24"
    assert sdk.network.get_subnet(portus.subnet.id).name == "demo"
    network = sdk.network.find_network(portus.subnet.network_id)
    assert network is not None and network.subnet_ids == [portus.subnet.id]
    assert sdk.network.find_subnet("nope") is None
