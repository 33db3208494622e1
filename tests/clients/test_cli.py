"""`openstack loadbalancer ...` (python-octaviaclient), unchanged, against portus over HTTP:
`--os-auth-type none --os-endpoint URL`, no Keystone, no Neutron. Each CLI run costs
1-2 s of start-up, so each test plays a whole scenario."""
from __future__ import annotations

import json

import pytest

from tests.clients.conftest import CLI, CLIError, Portus, cli_command, run_openstack


def _lb(cli: CLI, portus: Portus, name: str, *extra: str) -> dict:
    lb = cli("loadbalancer", "create", "--name", name, "--vip-subnet-id", portus.subnet.id,
             "--project", "p-cli", *extra)
    portus.wait_active(lb["id"])
    return lb  # type: ignore[no-any-return]


def test_the_real_openstack_executable(portus: Portus) -> None:
    """The other tests run commands in one long-lived CLI process; this one starts the
    `openstack` executable itself, with the flags the README documents."""
    command = cli_command(portus.url, "loadbalancer", "list")
    assert command[1:5] == ["--os-auth-type", "none", "--os-endpoint", portus.url]
    rc, out, err = run_openstack(portus.url, ["loadbalancer", "create", "--vip-subnet-id",
                                              "demo", "--project", "p", "-f", "json"])
    assert rc == 0, err
    lb = json.loads(out)
    portus.wait_active(lb["id"])
    rc, out, err = run_openstack(portus.url, ["loadbalancer", "list", "-f", "json"])
    assert rc == 0, err
    assert [x["id"] for x in json.loads(out)] == [lb["id"]]


def test_loadbalancer_scenario(cli: CLI, portus: Portus) -> None:
    # Subnet by *name* (the networking shim) and project by id (the noauth identity shim).
    lb = cli("loadbalancer", "create", "--name", "web", "--vip-subnet-id", "demo",
             "--project", "p-cli", "--description", "first", "--tag", "blue")
    assert lb["vip_subnet_id"] == portus.subnet.id and lb["project_id"] == "p-cli"
    assert lb["provisioning_status"] == "PENDING_CREATE" and lb["tags"] == ["blue"]
    portus.wait_active(lb["id"])
    # By network name, and by ids.
    other = cli("loadbalancer", "create", "--name", "api", "--vip-network-id", "demo",
                "--vip-address", "198.18.1.200", "--project", "p-cli")
    assert other["vip_address"] == "198.18.1.200"
    portus.wait_active(other["id"])

    shown = cli("loadbalancer", "show", "web")  # by name, through the list API
    assert shown["id"] == lb["id"] and shown["provisioning_status"] == "ACTIVE"
    listed = cli("loadbalancer", "list", "--name", "web")
    assert [x["id"] for x in listed] == [lb["id"]]
    assert {x["name"] for x in cli("loadbalancer", "list")} == {"web", "api"}

    cli("loadbalancer", "set", "--name", "web2", "--description", "second", "--disable",
        "--tag", "green", "web", json_out=False)
    portus.wait_active(lb["id"])
    cli("loadbalancer", "unset", "--description", "--tag", "blue", "web2", json_out=False)
    portus.wait_active(lb["id"])
    shown = cli("loadbalancer", "show", lb["id"])
    assert (shown["name"], shown["description"], shown["admin_state_up"]) == ("web2", "", False)
    assert shown["tags"] == ["green"]

    stats = cli("loadbalancer", "stats", "show", "web2")
    assert stats["total_connections"] == 0
    status = cli("loadbalancer", "status", "show", "web2", json_out=False)
    assert status["loadbalancer"]["id"] == lb["id"]

    cli("loadbalancer", "delete", "web2", json_out=False)
    cli("loadbalancer", "delete", "api", json_out=False)
    portus.settle()
    assert cli("loadbalancer", "list") == []

    # Errors are the client's, with the API's or the shim's message.
    with pytest.raises(CLIError) as info:
        cli("loadbalancer", "create", "--vip-subnet-id", "no-such-subnet", "--project", "p")
    assert "Unable to locate no-such-subnet in subnets" in info.value.stderr
    with pytest.raises(CLIError) as info:
        cli("loadbalancer", "show", "no-such-lb")
    assert "no-such-lb" in info.value.stderr


def test_listener_pool_member_healthmonitor_scenario(cli: CLI, portus: Portus) -> None:
    lb = _lb(cli, portus, "lb")
    listener = cli("loadbalancer", "listener", "create", "--name", "l1", "--protocol", "HTTP",
                   "--protocol-port", "80", "--connection-limit", "100",
                   "--insert-headers", "X-Forwarded-For=true", "lb")
    assert listener["protocol_port"] == 80
    portus.wait_active(lb["id"])
    pool = cli("loadbalancer", "pool", "create", "--name", "p1", "--listener", "l1",
               "--protocol", "HTTP", "--lb-algorithm", "ROUND_ROBIN",
               "--session-persistence", "type=APP_COOKIE,cookie_name=sid")
    portus.wait_active(lb["id"])
    member = cli("loadbalancer", "member", "create", "--name", "m1", "--address", "198.18.1.20",
                 "--protocol-port", "8080", "--subnet-id", "demo", "--weight", "3", "p1")
    assert member["subnet_id"] == portus.subnet.id and member["weight"] == 3
    portus.wait_active(lb["id"])
    # A member on another subnet, named as the CLI resolves it through the networking API.
    other = cli("loadbalancer", "member", "create", "--address", "198.18.2.21",
                "--protocol-port", "8080", "--subnet-id", "backends", "p1")
    assert other["subnet_id"] == portus.cfg.network.subnets[1].id
    portus.wait_active(lb["id"])
    hm = cli("loadbalancer", "healthmonitor", "create", "--name", "hm", "--delay", "5",
             "--timeout", "3", "--max-retries", "2", "--type", "HTTP", "--url-path", "/ok",
             "p1")
    portus.wait_active(lb["id"])

    assert cli("loadbalancer", "listener", "show", "l1")["default_pool_id"] == pool["id"]
    assert [p["id"] for p in cli("loadbalancer", "pool", "list", "--loadbalancer", "lb")] == [
        pool["id"]]
    members = cli("loadbalancer", "member", "list", "p1")
    assert len(members) == 2 and {m["provisioning_status"] for m in members} == {"ACTIVE"}
    cli("loadbalancer", "member", "set", "--weight", "7", "--enable-backup", "p1", "m1",
        json_out=False)
    portus.wait_active(lb["id"])
    shown = cli("loadbalancer", "member", "show", "p1", "m1")
    assert (shown["weight"], shown["backup"]) == (7, True)
    cli("loadbalancer", "healthmonitor", "set", "--delay", "9", "hm", json_out=False)
    cli("loadbalancer", "listener", "set", "--description", "front", "l1", json_out=False)
    cli("loadbalancer", "pool", "set", "--lb-algorithm", "LEAST_CONNECTIONS", "p1",
        json_out=False)
    portus.wait_active(lb["id"])
    assert cli("loadbalancer", "healthmonitor", "show", "hm")["delay"] == 9
    assert cli("loadbalancer", "pool", "show", "p1")["lb_algorithm"] == "LEAST_CONNECTIONS"
    assert cli("loadbalancer", "listener", "stats", "show", "l1")["bytes_in"] == 0
    tree = cli("loadbalancer", "status", "show", "lb", json_out=False)
    pools = tree["loadbalancer"]["listeners"][0]["pools"]
    assert pools[0]["health_monitor"]["id"] == hm["id"] and len(pools[0]["members"]) == 2

    cli("loadbalancer", "healthmonitor", "delete", "hm", json_out=False)
    portus.wait_active(lb["id"])
    cli("loadbalancer", "member", "delete", "p1", "m1", json_out=False)
    portus.wait_active(lb["id"])
    cli("loadbalancer", "pool", "delete", "p1", json_out=False)
    portus.wait_active(lb["id"])
    cli("loadbalancer", "listener", "delete", "l1", json_out=False)
    portus.wait_active(lb["id"])
    assert cli("loadbalancer", "listener", "list") == []
    cli("loadbalancer", "delete", "lb", json_out=False)
    portus.settle()


def test_cascade_delete_and_network_endpoint_override(cli: CLI, portus: Portus) -> None:
    """The explicit override (OS_NETWORK_ENDPOINT_OVERRIDE=<api>/networking/) works too."""
    lb = cli("loadbalancer", "create", "--name", "c", "--vip-subnet-id", "demo",
             "--project", "p-cli",
             env={"OS_NETWORK_ENDPOINT_OVERRIDE": portus.url + "/networking/"})
    portus.wait_active(lb["id"])
    cli("loadbalancer", "listener", "create", "--protocol", "TCP", "--protocol-port", "22",
        "--name", "ssh", "c")
    portus.wait_active(lb["id"])
    cli("loadbalancer", "delete", "--cascade", "c", json_out=False)
    portus.settle()
    assert cli("loadbalancer", "list") == [] and cli("loadbalancer", "listener", "list") == []


def test_admin_families_scenario(cli: CLI, portus: Portus) -> None:
    """Flavors and profiles, availability zones and profiles, providers, quotas,
    amphorae and load balancer failover."""
    assert "amphora" in {p["name"] for p in cli("loadbalancer", "provider", "list")}
    caps = cli("loadbalancer", "provider", "capability", "list", "amphora")
    assert "loadbalancer_topology" in {c["name"] for c in caps}
    cli("loadbalancer", "flavorprofile", "create", "--name", "fp", "--provider", "amphora",
        "--flavor-data", '{"loadbalancer_topology": "SINGLE"}')
    flavor = cli("loadbalancer", "flavor", "create", "--name", "small", "--flavorprofile",
                 "fp", "--description", "one amphora", "--enable")
    cli("loadbalancer", "availabilityzoneprofile", "create", "--name", "azp", "--provider",
        "amphora", "--availability-zone-data", "{}")
    cli("loadbalancer", "availabilityzone", "create", "--name", "az1",
        "--availabilityzoneprofile", "azp", "--description", "zone")
    assert cli("loadbalancer", "availabilityzone", "show", "az1")["description"] == "zone"
    lb = _lb(cli, portus, "flavored", "--flavor", "small")
    assert lb["flavor_id"] == flavor["id"]
    cli("loadbalancer", "flavor", "set", "--description", "changed", "small", json_out=False)
    assert cli("loadbalancer", "flavor", "show", "small")["description"] == "changed"

    quota = cli("loadbalancer", "quota", "set", "--loadbalancer", "3", "--listener", "4",
                "p-q")  # the project through the noauth identity shim
    assert (quota["load_balancer"], quota["listener"]) == (3, 4)
    assert cli("loadbalancer", "quota", "show", "p-q")["listener"] == 4
    assert "p-q" in {q["project_id"] for q in cli("loadbalancer", "quota", "list")}
    defaults = cli("loadbalancer", "quota", "defaults", "show")
    cli("loadbalancer", "quota", "reset", "p-q", json_out=False)
    assert cli("loadbalancer", "quota", "show", "p-q")["load_balancer"] == \
        defaults["load_balancer"]

    assert cli("loadbalancer", "amphora", "list") == []  # the noop worker builds none
    cli("loadbalancer", "failover", "flavored", json_out=False)
    portus.wait_active(lb["id"])

    cli("loadbalancer", "delete", "flavored", json_out=False)
    portus.settle()
    cli("loadbalancer", "availabilityzone", "delete", "az1", json_out=False)
    cli("loadbalancer", "availabilityzoneprofile", "delete", "azp", json_out=False)
    cli("loadbalancer", "flavor", "delete", "small", json_out=False)
    cli("loadbalancer", "flavorprofile", "delete", "fp", json_out=False)
    assert cli("loadbalancer", "flavor", "list") == []


def test_l7_scenario(cli: CLI, portus: Portus) -> None:
    lb = _lb(cli, portus, "l7lb")
    cli("loadbalancer", "listener", "create", "--name", "l1", "--protocol", "HTTP",
        "--protocol-port", "80", "l7lb")
    portus.wait_active(lb["id"])
    cli("loadbalancer", "pool", "create", "--name", "api", "--loadbalancer", "l7lb",
        "--protocol", "HTTP", "--lb-algorithm", "ROUND_ROBIN")
    portus.wait_active(lb["id"])
    policy = cli("loadbalancer", "l7policy", "create", "--name", "to-api", "--action",
                 "REDIRECT_TO_POOL", "--redirect-pool", "api", "l1")
    portus.wait_active(lb["id"])
    rule = cli("loadbalancer", "l7rule", "create", "--type", "PATH", "--compare-type",
               "STARTS_WITH", "--value", "/api", "to-api")
    portus.wait_active(lb["id"])
    assert [r["id"] for r in cli("loadbalancer", "l7rule", "list", "to-api")] == [rule["id"]]
    cli("loadbalancer", "l7rule", "set", "--value", "/v2", "to-api", rule["id"],
        json_out=False)
    portus.wait_active(lb["id"])
    assert cli("loadbalancer", "l7rule", "show", "to-api", rule["id"])["value"] == "/v2"
    cli("loadbalancer", "l7policy", "set", "--action", "REDIRECT_TO_URL", "--redirect-url",
        "https://example.com/", "to-api", json_out=False)
    portus.wait_active(lb["id"])
    shown = cli("loadbalancer", "l7policy", "show", "to-api")
    assert (shown["id"], shown["action"]) == (policy["id"], "REDIRECT_TO_URL")
    assert [p["id"] for p in cli("loadbalancer", "l7policy", "list")] == [policy["id"]]
    cli("loadbalancer", "l7rule", "delete", "to-api", rule["id"], json_out=False)
    portus.wait_active(lb["id"])
    cli("loadbalancer", "l7policy", "delete", "to-api", json_out=False)
    portus.wait_active(lb["id"])
    cli("loadbalancer", "delete", "--cascade", "l7lb", json_out=False)
    portus.settle()


def test_additional_vip_by_subnet_name(cli: CLI, portus: Portus) -> None:
    """--additional-vip subnet-id=NAME goes through the networking shim too."""
    lb = cli("loadbalancer", "create", "--name", "two", "--vip-subnet-id", "demo",
             "--additional-vip", "subnet-id=backends", "--project", "p-cli")
    backends = portus.cfg.network.subnets[1]
    assert [v["subnet_id"] for v in lb["additional_vips"]] == [backends.id]
    portus.wait_active(lb["id"])
    cli("loadbalancer", "delete", "two", json_out=False)
    portus.settle()


def test_tls_scenario(cli: CLI, portus: Portus) -> None:
    """TERMINATED_HTTPS and a re-encrypting pool with the CLI's own TLS flags; the
    secrets are stored in portus's Barbican-compatible /v1/secrets as the project."""
    import httpx

    from tests.tls_material import material

    def store(payload: str) -> str:
        out = httpx.post(f"{portus.url}/v1/secrets", headers={"X-Project-Id": "p-cli"},
                         json={"payload": payload, "payload_content_type": "text/plain"})
        assert out.status_code == 201, out.text
        return str(out.json()["secret_ref"])

    m = material()
    cert, sni, ca = store(m.server.pem_bundle), store(m.other.pem_bundle), store(
        m.ca.cert_pem.decode())
    lb = _lb(cli, portus, "tls")
    listener = cli("loadbalancer", "listener", "create", "--name", "https",
                   "--protocol", "TERMINATED_HTTPS", "--protocol-port", "443",
                   "--default-tls-container-ref", cert, "--sni-container-refs", sni,
                   "--client-authentication", "OPTIONAL", "--client-ca-tls-container-ref", ca,
                   "--tls-version", "TLSv1.3", "--alpn-protocol", "h2",
                   "--allowed-cidr", "192.0.2.0/24", "--hsts-max-age", "600", "tls")
    assert listener["default_tls_container_ref"] == cert
    assert listener["sni_container_refs"] == [sni]
    assert listener["client_authentication"] == "OPTIONAL"
    assert listener["tls_versions"] == ["TLSv1.3"] and listener["alpn_protocols"] == ["h2"]
    assert listener["allowed_cidrs"] == ["192.0.2.0/24"] and listener["hsts_max_age"] == 600
    portus.wait_active(lb["id"])
    pool = cli("loadbalancer", "pool", "create", "--name", "back", "--listener", "https",
               "--protocol", "HTTP", "--lb-algorithm", "ROUND_ROBIN", "--enable-tls",
               "--ca-tls-container-ref", ca)
    assert pool["tls_enabled"] is True and pool["ca_tls_container_ref"] == ca
    portus.wait_active(lb["id"])
    with pytest.raises(CLIError) as refused:
        cli("loadbalancer", "listener", "create", "--protocol", "TERMINATED_HTTPS",
            "--protocol-port", "8443", "--default-tls-container-ref", "no-such-secret", "tls")
    assert "default_tls_container_ref" in str(refused.value)
    cli("loadbalancer", "delete", "--cascade", "tls", json_out=False)
    portus.settle()
