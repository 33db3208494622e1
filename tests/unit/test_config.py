"""Configuration: defaults, one TOML file, PORTUS_* environment overrides, flags."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from portus.common import config
from portus.common.config import ConfigError, load


@pytest.fixture(autouse=True)
def _no_system_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever is in /etc/portus on this machine does not leak into the tests."""
    monkeypatch.setattr(config, "DEFAULT_CONFIG_PATHS", ())


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "portus.toml"
    path.write_text(text)
    return str(path)


# --- defaults ----------------------------------------------------------------------

def test_defaults() -> None:
    cfg = load(environ={})
    assert cfg.data_dir == "/var/lib/portus"
    assert (cfg.api.bind_host, cfg.api.bind_port, cfg.api.auth_strategy) == (
        "127.0.0.1", 9876, "noauth")
    assert cfg.api.pagination_max_limit == 1000
    assert cfg.database_url == "sqlite:////var/lib/portus/portus.db"
    assert cfg.ca_dir == Path("/var/lib/portus/ca")
    assert (cfg.amphora.timeout_client_data, cfg.amphora.timeout_member_connect,
            cfg.amphora.timeout_member_data, cfg.amphora.timeout_tcp_inspect) == (
        50000, 5000, 50000, 0)
    assert cfg.health_manager.failover_enabled is True
    assert cfg.house_keeping.deleted_expiry_age == 604800.0
    assert cfg.network.management.gateway == "198.18.0.1"
    assert cfg.heartbeat_bind_ip == "198.18.0.1"


def test_default_subnet_is_derived_and_stable() -> None:
    subnet = load(environ={}).network.subnets[0]
    assert (subnet.name, subnet.cidr, subnet.bridge) == ("demo", "198.18.1.0/24", "portus-demo")
    assert (subnet.gateway, subnet.allocation_start, subnet.allocation_end) == (
        "198.18.1.1", "198.18.1.10", "198.18.1.238")
    assert uuid.UUID(subnet.id) and uuid.UUID(subnet.network_id)
    again = load(environ={}).network.subnets[0]
    assert (again.id, again.network_id) == (subnet.id, subnet.network_id)
    cfg = load(environ={})
    assert cfg.subnet(subnet.id) is not None and cfg.subnet("nope") is None


def test_database_url_follows_data_dir() -> None:
    cfg = load(environ={"PORTUS_DATA_DIR": "/srv/p"})
    assert cfg.database_url == "sqlite:////srv/p/portus.db"
    assert cfg.ca_dir == Path("/srv/p/ca")


# --- the TOML file -----------------------------------------------------------------

def test_toml_file(tmp_path: Path) -> None:
    path = write(tmp_path, """
data_dir = "/data"
log_level = "DEBUG"
[api]
bind_port = 9000
pagination_max_limit = 50
[database]
connection = "postgresql+psycopg://u@db/portus"
[controller]
lease_ttl = 30
[health_manager]
failover_enabled = false
[[network.subnets]]
name = "lan"
cidr = "10.20.0.0/24"
bridge = "br-lan"
allocation_start = "10.20.0.100"
allocation_end = "10.20.0.150"
""")
    cfg = load(path, environ={})
    assert cfg.data_dir == "/data" and cfg.log_level == "DEBUG"
    assert cfg.api.bind_port == 9000 and cfg.api.pagination_max_limit == 50
    assert cfg.database_url == "postgresql+psycopg://u@db/portus"
    assert cfg.controller.lease_ttl == 30.0 and isinstance(cfg.controller.lease_ttl, float)
    assert cfg.health_manager.failover_enabled is False
    assert [s.name for s in cfg.network.subnets] == ["lan"]
    lan = cfg.network.subnets[0]
    assert (lan.gateway, lan.allocation_start, lan.allocation_end, lan.bridge) == (
        "10.20.0.1", "10.20.0.100", "10.20.0.150", "br-lan")


def test_file_from_portus_config(tmp_path: Path) -> None:
    path = write(tmp_path, "[api]\nbind_port = 7000\n")
    assert load(environ={"PORTUS_CONFIG": path}).api.bind_port == 7000


@pytest.mark.parametrize("text, name", [
    ("colour = 1\n", "colour"),
    ("[api]\nbogus = 1\n", "api.bogus"),
    ("[nosuchsection]\nx = 1\n", "nosuchsection"),
    ("[api]\nbind_port = \"80\"\n", "api.bind_port"),
    ("[api]\nbind_port = true\n", "api.bind_port"),
    ("[api]\nbind_host = 1\n", "api.bind_host"),
    ("[health_manager]\nfailover_enabled = 1\n", "health_manager.failover_enabled"),
    ("api = 3\n", "api"),
    ("[network]\nsubnets = 3\n", "network.subnets"),
    ("[[network.subnets]]\nname = \"a\"\ncidr = \"10.0.0.0/24\"\nvlan = 3\n", "network.subnets[0]"),
    ("[[network.subnets]]\nname = \"a\"\ncidr = \"10.0.0.1/24\"\n", "network.subnets[0].cidr"),
    ("[[network.subnets]]\nname = \"a\"\ncidr = \"10.0.0.0/24\"\ngateway = \"10.9.9.9\"\n",
     "network.subnets[0].gateway"),
    ("[[network.subnets]]\nname = \"a\"\ncidr = \"10.0.0.0/24\"\nbridge = \"a-very-long-bridge\"\n",
     "network.subnets[0].bridge"),
    ("[[network.subnets]]\nname = \"a\"\ncidr = \"10.0.0.0/24\"\n"
     "[[network.subnets]]\nname = \"a\"\ncidr = \"10.0.1.0/24\"\n", "network.subnets[1].name"),
    ("[api]\nauth_strategy = \"keystone\"\n", "api.auth_strategy"),
    ("[controller]\nloadbalancer_topology = \"TRIPLE\"\n", "controller.loadbalancer_topology"),
    ("[amphora]\nvrrp_advert_int = 0.001\n", "amphora.vrrp_advert_int"),
    ("[amphora]\nvrrp_advert_int = 41\n", "amphora.vrrp_advert_int"),
    ("[amphora]\nvrrp_check_interval = 0\n", "amphora.vrrp_check_interval"),
])
def test_invalid_file_names_the_option(tmp_path: Path, text: str, name: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, text), environ={})
    assert name in str(info.value)


def test_unknown_option_message(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^api\.bogus: unknown option$"):
        load(write(tmp_path, "[api]\nbogus = 1\n"), environ={})


def test_unreadable_and_broken_files(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="missing.toml"):
        load(missing, environ={})
    with pytest.raises(ConfigError, match="portus.toml"):
        load(write(tmp_path, "[api\n"), environ={})


# --- environment -------------------------------------------------------------------

def test_environment_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, "[api]\nbind_port = 9000\npagination_max_limit = 10\n")
    cfg = load(path, environ={
        "PORTUS_API__BIND_PORT": "9100",
        "PORTUS_HEALTH_MANAGER__FAILOVER_ENABLED": "off",
        "PORTUS_CONTROLLER__LEASE_TTL": "2.5",
        "PORTUS_DATABASE__CONNECTION": "mysql+pymysql://root@db/portus",
        "PORTUS_NETWORK__MANAGEMENT__CIDR": "10.99.0.0/24",
        "PORTUS_DATA_DIR": "/env/data",
        "UNRELATED": "x", "PORTUS_CONFIG_HINT": "ignored without a double underscore",
    })
    assert cfg.api.bind_port == 9100  # env beats the file
    assert cfg.api.pagination_max_limit == 10  # the file beats the defaults
    assert cfg.health_manager.failover_enabled is False
    assert cfg.controller.lease_ttl == 2.5
    assert cfg.database_url == "mysql+pymysql://root@db/portus"
    assert cfg.network.management.gateway == "10.99.0.1"
    assert cfg.data_dir == "/env/data"


@pytest.mark.parametrize("value, expected", [
    ("1", True), ("true", True), ("YES", True), ("on", True),
    ("0", False), ("False", False), ("no", False), ("off", False)])
def test_environment_booleans(value: str, expected: bool) -> None:
    cfg = load(environ={"PORTUS_HOUSE_KEEPING__ORPHAN_CLEANUP": value})
    assert cfg.house_keeping.orphan_cleanup is expected


@pytest.mark.parametrize("key, value, name", [
    ("PORTUS_API__NOPE", "1", "PORTUS_API__NOPE"),
    ("PORTUS_API__NOPE", "1", "nope"),
    ("PORTUS_NOSECTION__X", "1", "nosection"),
    ("PORTUS_API__BIND_PORT", "eighty", "PORTUS_API__BIND_PORT"),
    ("PORTUS_CONTROLLER__LEASE_TTL", "soon", "PORTUS_CONTROLLER__LEASE_TTL"),
    ("PORTUS_HEALTH_MANAGER__FAILOVER_ENABLED", "maybe", "PORTUS_HEALTH_MANAGER__FAILOVER_ENABLED"),
    ("PORTUS_NETWORK__MANAGEMENT", "x", "management"),
])
def test_bad_environment_names_the_variable(key: str, value: str, name: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(environ={key: value})
    assert name in str(info.value)


def test_flags_beat_the_environment() -> None:
    cfg = load(environ={"PORTUS_DATA_DIR": "/env"}, overrides={"data_dir": "/flag",
                                                               "log_level": None})
    assert cfg.data_dir == "/flag" and cfg.log_level == "INFO"


# --- noauth only on loopback -------------------------------------------------------

@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.5", "::", "example.com"])
def test_noauth_is_refused_off_loopback(host: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(environ={"PORTUS_API__BIND_HOST": host})
    message = str(info.value)
    assert "api.auth_strategy" in message and "noauth" in message and host in message


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_noauth_is_accepted_on_loopback(host: str) -> None:
    assert load(environ={"PORTUS_API__BIND_HOST": host}).api.bind_host == host


def test_noauth_check_applies_to_the_file_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="loopback"):
        load(write(tmp_path, "[api]\nbind_host = \"0.0.0.0\"\n"), environ={})


def test_active_standby_by_default(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, "[controller]\nloadbalancer_topology = \"ACTIVE_STANDBY\"\n"
                               "[amphora]\nvrrp_advert_int = 1\nvrrp_check_interval = 2\n"),
               environ={})
    assert cfg.controller.loadbalancer_topology == "ACTIVE_STANDBY"
    assert cfg.amphora.vrrp_advert_int == 1.0 and isinstance(cfg.amphora.vrrp_advert_int, float)
    assert cfg.amphora.vrrp_check_interval == 2
    assert load(environ={}).controller.loadbalancer_topology == "SINGLE"
