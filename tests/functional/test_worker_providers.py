"""The worker with the noop provider (no amphorae) and with flavor compute resources."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from portus.common import constants as C
from portus.common.config import ComputeFlavorConfig
from portus.controller.flavors import haproxy_binary
from portus.controller.lease import Leases
from portus.controller.worker import Reconciler
from portus.db import models as m

from tests.functional.conftest import Api
from tests.functional.worker_doubles import FakeAgents, FakeAmphorae
from tests.functional.test_flavorprofiles import create_flavor, create_profile


def reconciler(api: Api) -> tuple[Reconciler, FakeAmphorae, FakeAgents]:
    amphorae, agents = FakeAmphorae(), FakeAgents()
    rec = Reconciler(api.cfg, api.db, Leases(api.db, "test", 30.0),
                     amphorae, agents)  # type: ignore[arg-type]
    return rec, amphorae, agents


def test_noop_load_balancer_converges_without_amphorae(api: Api) -> None:
    rec, amphorae, agents = reconciler(api)
    pool = {"name": "p", "protocol": "HTTP", "lb_algorithm": "SOURCE_IP_PORT",
            "members": [{"address": "192.0.2.10", "protocol_port": 80}]}
    lb = api.create_lb(settle=False, provider="noop", listeners=[{
        "protocol": "HTTP", "protocol_port": 80, "default_pool": pool}])
    assert rec.converge(lb["id"]) is None
    assert api.lb_status(lb["id"]) == C.ACTIVE
    member = api.show("pool", lb["pools"][0]["id"])
    assert member["provisioning_status"] == C.ACTIVE
    # A change converges the same way.
    api.create_member(lb["pools"][0]["id"], settle=False, address="192.0.2.11")
    assert rec.converge(lb["id"]) is None
    assert api.lb_status(lb["id"]) == C.ACTIVE
    # Delete: DELETED, the VIP released, still no amphora touched.
    api.expect("DELETE", f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true", 204)
    assert rec.converge(lb["id"]) is None
    assert api.lb_status(lb["id"]) == C.DELETED
    with api.db.read() as session:
        assert session.execute(sa.select(sa.func.count()).select_from(m.Member)).scalar_one() == 0
        vip = session.get(m.Vip, lb["id"])
        assert vip is not None and vip.ip_address is None
        assert session.execute(sa.select(sa.func.count()).select_from(m.Amphora)).scalar_one() == 0
    assert (amphorae.ensured, amphorae.removed, agents.configs) == ([], [], [])


def test_compute_flavor_sets_haproxy_maxconn(api: Api) -> None:
    api.cfg.amphora.compute_flavors["small"] = ComputeFlavorConfig(maxconn=1234)
    try:
        flavor = create_flavor(api, create_profile(api, {"compute_flavor": "small"})["id"])
        rec, amphorae, agents = reconciler(api)
        small = api.create_lb(settle=False, flavor_id=flavor["id"])
        assert rec.converge(small["id"]) is None
        plain = api.create_lb(settle=False)
        assert rec.converge(plain["id"]) is None
    finally:
        api.cfg.amphora.compute_flavors.clear()
    assert amphorae.ensured == [small["id"], plain["id"]]
    globals_ = [_global_maxconn(text) for text in agents.configs]
    assert globals_ == [1234, api.cfg.amphora.maxconn]


def _global_maxconn(text: str) -> Any:
    for line in text.splitlines():
        if line.strip().startswith("maxconn"):
            return int(line.split()[1])
    return None


def test_udp_listeners_go_to_nftables_and_tcp_ones_to_haproxy(api: Api) -> None:
    rec, _, agents = reconciler(api)
    pool = {"name": "dns", "protocol": "UDP", "lb_algorithm": "ROUND_ROBIN",
            "members": [{"address": "192.0.2.10", "protocol_port": 53}]}
    lb = api.create_lb(settle=False, listeners=[
        {"protocol": "UDP", "protocol_port": 53, "default_pool": pool},
        {"protocol": "TCP", "protocol_port": 53}])
    rec.converge(lb["id"])
    assert api.lb_status(lb["id"]) == "ACTIVE"
    udp_id = next(li["id"] for li in lb["listeners"] if li["protocol"] == "UDP")
    assert [li["id"] for li in agents.udp[-1]["listeners"]] == [udp_id]
    assert agents.udp[-1]["listeners"][0]["pool"]["members"][0]["address"] == "192.0.2.10"
    assert udp_id not in agents.configs[-1] and "bind" in agents.configs[-1]


def test_amp_image_tag_picks_the_amphora_haproxy(api: Api) -> None:
    api.cfg.amphora.images["lts"] = "/opt/haproxy-lts/sbin/haproxy"
    try:
        flavor = create_flavor(api, create_profile(api, {"amp_image_tag": "lts"})["id"])
        tagged = api.create_lb(settle=False, flavor_id=flavor["id"])
        plain = api.create_lb(settle=False)
        with api.db.read() as session:
            picked = [haproxy_binary(api.cfg, session, session.get(m.LoadBalancer, lb["id"]))
                      for lb in (tagged, plain)]
    finally:
        api.cfg.amphora.images.clear()
    assert picked == ["/opt/haproxy-lts/sbin/haproxy", api.cfg.amphora.haproxy_bin]
