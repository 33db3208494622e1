"""Provider drivers: metadata validation, per-object checks, the registry."""
from __future__ import annotations

from typing import Any

import pytest

from portus.common import config
from portus.common.config import ComputeFlavorConfig, ConfigError, load
from portus.drivers.provider import registry
from portus.drivers.provider.amphora import AmphoraProvider
from portus.drivers.provider.base import InvalidMetadata, UnsupportedOption
from portus.drivers.provider.noop import NoopProvider


@pytest.fixture
def cfg(monkeypatch: pytest.MonkeyPatch) -> config.Config:
    monkeypatch.setattr(config, "DEFAULT_CONFIG_PATHS", ())
    c = load(environ={})
    c.amphora.compute_flavors["small"] = ComputeFlavorConfig(maxconn=100)
    c.amphora.images["t"] = "/usr/sbin/haproxy"
    return c


@pytest.fixture
def amp(cfg: config.Config) -> AmphoraProvider:
    return AmphoraProvider(cfg)


@pytest.mark.parametrize("metadata", [
    {}, {"loadbalancer_topology": "SINGLE"}, {"loadbalancer_topology": "ACTIVE_STANDBY"},
    {"compute_flavor": "small", "amp_image_tag": "t", "sriov_vip": True,
     "allow_member_sriov": False},
])
def test_amphora_accepts_its_flavor_keys(amp: AmphoraProvider, metadata: dict[str, Any]) -> None:
    assert amp.validate_flavor(metadata) is None  # raises on a key it does not accept


@pytest.mark.parametrize("metadata,fragment", [
    ({"extra": 1}, "extra"),
    ({"loadbalancer_topology": "single"}, "loadbalancer_topology"),
    ({"compute_flavor": "large"}, "large"),
    ({"compute_flavor": ""}, "compute_flavor"),
    ({"amp_image_tag": None}, "amp_image_tag"),
    ({"amp_image_tag": "haproxy-9"}, "haproxy-9"),
    ({"sriov_vip": "true"}, "sriov_vip"),
    ({"allow_member_sriov": 0}, "allow_member_sriov"),
])
def test_amphora_refuses_bad_flavors(amp: AmphoraProvider, metadata: dict[str, Any],
                                     fragment: str) -> None:
    with pytest.raises(InvalidMetadata, match=fragment):
        assert amp.validate_flavor(metadata) is None  # raises on a key it does not accept


def test_amphora_availability_zones(amp: AmphoraProvider) -> None:
    amp.validate_availability_zone({"compute_zone": "a", "volume_zone": "b",
                                    "management_network": "m", "valid_vip_networks": ["n"]})
    for bad in ({"zone": "a"}, {"valid_vip_networks": "n"}, {"management_network": 1}):
        with pytest.raises(InvalidMetadata):
            amp.validate_availability_zone(bad)
    assert list(amp.availability_zone_capabilities()) == [
        "compute_zone", "volume_zone", "management_network", "valid_vip_networks"]


def test_amphora_unsupported_options(amp: AmphoraProvider) -> None:
    amp.check_load_balancer({"loadbalancer_topology": "SINGLE"})
    amp.check_load_balancer({"loadbalancer_topology": "ACTIVE_STANDBY"})
    with pytest.raises(UnsupportedOption, match="SR-IOV"):
        amp.check_load_balancer({"sriov_vip": True})
    for algorithm in ("ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"):
        amp.check_pool("HTTP", algorithm)
    with pytest.raises(UnsupportedOption, match="SOURCE_IP_PORT"):
        amp.check_pool("HTTP", "SOURCE_IP_PORT")
    amp.check_l7policy("HTTP")
    with pytest.raises(UnsupportedOption):
        amp.check_l7policy("TCP")
    assert amp.builds_amphorae


def test_noop_accepts_everything() -> None:
    noop = NoopProvider()
    noop.validate_flavor({"anything": [1]})
    noop.validate_availability_zone({"x": None})
    noop.check_load_balancer({"loadbalancer_topology": "ACTIVE_STANDBY"})
    noop.check_pool("TCP", "SOURCE_IP_PORT")
    noop.check_l7policy("TCP")
    assert not noop.builds_amphorae


def test_registry(cfg: config.Config) -> None:
    assert isinstance(registry.get_driver(cfg, None), AmphoraProvider)
    assert isinstance(registry.get_driver(cfg, "octavia"), AmphoraProvider)
    assert isinstance(registry.get_driver(cfg, "noop"), NoopProvider)
    with pytest.raises(registry.ProviderNotEnabled, match="'bogus' is not enabled"):
        registry.get_driver(cfg, "bogus")
    cfg.api.enabled_provider_drivers["vendor"] = "someone else's"
    with pytest.raises(registry.ProviderNotFound):
        registry.get_driver(cfg, "vendor")
    assert registry.builds_amphorae(cfg, "amphora") and registry.builds_amphorae(cfg, None)
    assert not registry.builds_amphorae(cfg, "noop")


# --- configuration of providers, quotas and compute flavors -----------------------------

def _load(tmp_path: Any, text: str) -> config.Config:
    path = tmp_path / "portus.toml"
    path.write_text(text)
    return load(str(path), environ={})


def test_config_tables(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "DEFAULT_CONFIG_PATHS", ())
    cfg = _load(tmp_path, """
[api]
enabled_provider_drivers = {amphora = "a", noop = "n"}
default_provider_driver = "noop"
[quotas]
default_member_quota = 20
[amphora.compute_flavors.small]
maxconn = 500
[amphora.compute_flavors.big]
maxconn = 9000
vcpus = 2.5
ram_mb = 1024
""")
    assert cfg.api.enabled_provider_drivers == {"amphora": "a", "noop": "n"}
    assert cfg.api.default_provider_driver == "noop"
    assert cfg.quotas.default_member_quota == 20 and cfg.quotas.default_pool_quota == -1
    assert {k: v.maxconn for k, v in cfg.amphora.compute_flavors.items()} == {
        "small": 500, "big": 9000}
    big, small = cfg.amphora.compute_flavors["big"], cfg.amphora.compute_flavors["small"]
    assert (big.vcpus, big.ram_mb, small.vcpus, small.ram_mb) == (2.5, 1024, 0, 0)
    assert load(environ={"PORTUS_QUOTAS__DEFAULT_POOL_QUOTA": "3"}).quotas.default_pool_quota == 3


@pytest.mark.parametrize("text,fragment", [
    ('[api]\ndefault_provider_driver = "x"', "default_provider_driver"),
    ('[api]\nenabled_provider_drivers = {amphora = 1}', "enabled_provider_drivers"),
    ("[quotas]\ndefault_pool_quota = -2", "default_pool_quota"),
    ("[quotas]\nbogus = 1", "bogus"),
    ("[amphora.compute_flavors.x]\nmaxconn = 0", "compute_flavors.x.maxconn"),
    ("[amphora.compute_flavors.x]\ncpus = 2", "cpus"),
    ("[amphora.compute_flavors.x]\nvcpus = 0.001", "compute_flavors.x.vcpus"),
    ("[amphora.compute_flavors.x]\nram_mb = 32", "compute_flavors.x.ram_mb"),
    ("[amphora]\nvcpus = -1", "amphora.vcpus"),
    ("[amphora]\nram_mb = 10", "amphora.ram_mb"),
    ("[amphora]\nmaxconn = 20000", "amphora.maxconn"),
    ('[amphora]\ncgroup_parent = "/sys/fs/cgroup"', "cgroup_parent"),
    ('[amphora]\ncgroup_parent = "../x"', "cgroup_parent"),
    ("[amphora]\ncompute_flavors = 3", "compute_flavors"),
])
def test_config_errors(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, text: str,
                       fragment: str) -> None:
    monkeypatch.setattr(config, "DEFAULT_CONFIG_PATHS", ())
    with pytest.raises(ConfigError, match=fragment):
        _load(tmp_path, text)
