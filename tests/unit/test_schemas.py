"""Request validation (portus.api.schemas) and how a failure reads (portus.api.errors)."""
from __future__ import annotations

from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from portus.api import errors, schemas as s, schemas_admin as sa

UUID = "0b7c5d39-1f0e-4a57-9d0c-3f6e2b8a9c11"
POLICY = {"listener_id": UUID, "action": "REDIRECT_TO_URL", "redirect_url": "http://example.com/"}


def listener(**over: Any) -> dict[str, Any]:
    return {"loadbalancer_id": UUID, "protocol": "HTTP", "protocol_port": 80, **over}


def member(**over: Any) -> dict[str, Any]:
    return {"address": "192.0.2.1", "protocol_port": 80, **over}


def monitor(**over: Any) -> dict[str, Any]:
    return {"pool_id": UUID, "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 2, **over}


def pool(**over: Any) -> dict[str, Any]:
    return {"loadbalancer_id": UUID, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", **over}


def rejects(model: type[BaseModel], data: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Validation fails; returns the locations of the errors."""
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return [tuple(e["loc"]) for e in info.value.errors()]


def message(model: type[BaseModel], data: dict[str, Any], root: str) -> str:
    """The faultstring the API would answer for this body."""
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    errs = [{**e, "loc": ("body", root, *e["loc"])} for e in info.value.errors()]
    return errors.validation_message(RequestValidationError(errs))


# --- scalars as WSME reads them ------------------------------------------------------

@pytest.mark.parametrize("value, port", [(80, 80), ("80", 80), (" 443 ", 443), ("+22", 22),
                                         ("0080", 80)])
def test_ports_take_integer_strings(value: Any, port: int) -> None:
    # Octavia (WSME) reads an integer attribute with int(): "83" is 83.
    assert s.ListenerPOST.model_validate(listener(protocol_port=value)).protocol_port == port


@pytest.mark.parametrize("value", ["1.5", 80.0, 80.5, True, None, [80], "", "abc", "8_0",
                                   "0x50", "1e2", "٨٠", "70000", "-1"])
def test_ports_refuse_other_values(value: Any) -> None:
    assert rejects(s.ListenerPOST, listener(protocol_port=value))[0][0] == "protocol_port"


@pytest.mark.parametrize("model, base, field, value, expected", [
    (s.MemberSingle, None, "weight", "5", 5),
    (s.MemberPUT, {}, "weight", "0", 0),
    (s.ListenerPOST, None, "connection_limit", "-1", -1),
    (s.ListenerPOST, None, "timeout_client_data", "1000", 1000),
    (s.HealthMonitorPOST, None, "delay", "7", 7),
    (s.HealthMonitorPOST, None, "max_retries_down", "4", 4),
    (s.L7PolicyPOST, None, "position", "2", 2),
    (s.L7PolicyPOST, None, "redirect_http_code", "301", 301),
    (s.HealthMonitorPOST, None, "http_version", "1.1", 1.1),
    (sa.QuotaPUT, {}, "member", "10", 10),
])
def test_numbers_take_strings(model: type[BaseModel], base: dict[str, Any] | None, field: str,
                              value: Any, expected: Any) -> None:
    bases = {s.MemberSingle: member(), s.ListenerPOST: listener(),
             s.HealthMonitorPOST: monitor(), s.L7PolicyPOST: POLICY}
    data = {**(bases[model] if base is None else base), field: value}
    assert getattr(model.model_validate(data), field) == expected


@pytest.mark.parametrize("value, expected", [
    (True, True), (False, False), ("true", True), ("false", False), ("t", True), ("f", False),
    ("yes", True), ("no", False), ("y", True), ("n", False), ("on", True), ("off", False),
    ("1", True), ("0", False), (1, True), (0, False), (2, True)])
def test_booleans_as_wsme_reads_them(value: Any, expected: bool) -> None:
    assert s.ListenerPOST.model_validate(listener(admin_state_up=value)).admin_state_up is expected
    assert s.MemberSingle.model_validate(member(backup=value)).backup is expected
    assert sa.FlavorPUT.model_validate({"enabled": value}).enabled is expected


@pytest.mark.parametrize("value", ["True", "FALSE", "Yes", " true", "", "2", 1.0, 0.5, None,
                                   [True]])
def test_booleans_refuse_other_values(value: Any) -> None:
    # WSME compares the words exactly: "True" is no boolean there either.
    assert rejects(s.ListenerPOST, listener(admin_state_up=value))[0][0] == "admin_state_up"
    assert rejects(s.MemberSingle, member(backup=value))[0][0] == "backup"


@pytest.mark.parametrize("value", [1, 1.5, ["a"]])
def test_strings_are_strict(value: Any) -> None:
    assert rejects(s.ListenerPOST, listener(name=value))[0][0] == "name"


# --- ranges --------------------------------------------------------------------------

@pytest.mark.parametrize("model, base, field, good, bad", [
    (s.ListenerPOST, listener(), "protocol_port", [1, 65535], [0, 65536, -1]),
    (s.ListenerPOST, listener(), "connection_limit", [-1, 0, 2**31 - 1], [-2, 2**31]),
    (s.ListenerPOST, listener(), "timeout_client_data", [0, 2_073_600_000],
     [-1, 2_073_600_001]),
    (s.MemberSingle, member(), "weight", [0, 1, 256], [-1, 257]),
    (s.MemberSingle, member(), "monitor_port", [1, 65535], [0, 65536]),
    (s.HealthMonitorPOST, monitor(), "max_retries", [1, 10], [0, 11]),
    (s.HealthMonitorPOST, monitor(), "max_retries_down", [1, 10], [0, 11]),
    (s.HealthMonitorPOST, monitor(), "delay", [0, 3600, 2**31 - 1], [-1, 2**31]),
    (s.HealthMonitorPOST, monitor(), "timeout", [0, 3600, 2**31 - 1], [-1, 2**31]),
])
def test_ranges(model: type[BaseModel], base: dict[str, Any], field: str, good: list[int],
                bad: list[int]) -> None:
    for value in good:
        assert getattr(model.model_validate({**base, field: value}), field) == value
    for value in bad:
        assert rejects(model, {**base, field: value})[0][0] == field, value


@pytest.mark.parametrize("value", ["n" * 255])
def test_names_up_to_255(value: str) -> None:
    assert s.ListenerPOST.model_validate(listener(name=value, description=value)).name == value
    assert rejects(s.ListenerPOST, listener(name=value + "n"))[0][0] == "name"
    assert rejects(s.ListenerPOST, listener(description=value + "n"))[0][0] == "description"


# --- enums ---------------------------------------------------------------------------

@pytest.mark.parametrize("model, base, field, good, bad", [
    (s.ListenerPOST, listener(), "protocol",
     ["HTTP", "HTTPS", "TCP", "TERMINATED_HTTPS", "UDP", "SCTP", "PROMETHEUS"],
     ["http", "https", "udp", "terminated_https", "prometheus", ""]),
    (s.PoolPOST, pool(), "protocol", ["HTTP", "HTTPS", "TCP", "PROXY", "PROXYV2", "UDP", "SCTP"],
     ["https", "udp", "sctp", "TERMINATED_HTTPS", "PROMETHEUS", "tcp"]),
    # SOURCE_IP_PORT passes the schema; the amphora provider refuses it (501).
    (s.PoolPOST, pool(), "lb_algorithm",
     ["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "SOURCE_IP_PORT"],
     ["RANDOM", "round_robin"]),
    (s.HealthMonitorPOST, monitor(), "type",
     ["HTTP", "HTTPS", "TCP", "TLS-HELLO", "PING", "UDP-CONNECT", "SCTP"],
     ["https", "ping", "tls-hello", "udp-connect", "UDP_CONNECT", "tcp"]),
    (s.HealthMonitorPOST, monitor(), "http_method",
     ["GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH"],
     ["get", "FETCH", ""]),
])
def test_enums(model: type[BaseModel], base: dict[str, Any], field: str, good: list[str],
               bad: list[str]) -> None:
    for value in good:
        assert getattr(model.model_validate({**base, field: value}), field) == value
    for value in bad:
        assert rejects(model, {**base, field: value})[0][0] == field, value


def test_session_persistence_types() -> None:
    for kind in ("SOURCE_IP", "HTTP_COOKIE"):
        assert s.SessionPersistence.model_validate({"type": kind}).type == kind
    app = s.SessionPersistence.model_validate({"type": "APP_COOKIE", "cookie_name": "sid"})
    assert app.cookie_name == "sid"
    assert rejects(s.SessionPersistence, {"type": "STICKY"}) == [("type",)]


# --- url_path, expected_codes, domain_name, http_version ------------------------------

@pytest.mark.parametrize("value", ["/", "/healthz", "/a/b/c?x=1&y=2", "/%20encoded", "/~user"])
def test_url_path_valid(value: str) -> None:
    assert s.HealthMonitorPOST.model_validate(monitor(url_path=value)).url_path == value


@pytest.mark.parametrize("value", ["", "health", "/a b", "/a\tb", "/a\nb", "http://h/x",
                                   "//", "//evil.example/x", "/a#frag", "/" + "a" * 2048,
                                   "/a\x00", "/a\x1b[0m", "/a\x7f", "/a\rb"])
def test_url_path_invalid(value: str) -> None:
    locs = rejects(s.HealthMonitorPOST, monitor(url_path=value))
    assert locs[0][0] == "url_path"


@pytest.mark.parametrize("value", ["200", "200,202", "200, 202,204", "200-204", "100-599"])
def test_expected_codes_valid(value: str) -> None:
    assert s.HealthMonitorPOST.model_validate(monitor(expected_codes=value)).expected_codes == value


@pytest.mark.parametrize("value", ["", "20", "2000", "abc", "200-", "-200", "200-204-206",
                                   "200,", "204-200", "200;202", "200-2xx"])
def test_expected_codes_invalid(value: str) -> None:
    assert rejects(s.HealthMonitorPOST, monitor(expected_codes=value))[0][0] == "expected_codes"


def test_expected_codes_fit_their_column() -> None:
    fits = ",".join(["200"] * 16)  # 63 characters
    assert s.HealthMonitorPOST.model_validate(monitor(expected_codes=fits)).expected_codes == fits
    too_long = ",".join(["200"] * 17)
    assert rejects(s.HealthMonitorPOST, monitor(expected_codes=too_long))[0][0] == "expected_codes"


def test_expected_codes_must_be_a_string() -> None:
    assert rejects(s.HealthMonitorPOST, monitor(expected_codes=200))[0][0] == "expected_codes"


@pytest.mark.parametrize("value", ["example.com", "a.b-c.example", "localhost", "x" * 63])
def test_domain_name_valid(value: str) -> None:
    assert s.HealthMonitorPOST.model_validate(monitor(domain_name=value)).domain_name == value


@pytest.mark.parametrize("value", ["", "-a.com", "a_b.com", "exa mple.com", "x" * 64,
                                   "a..b", "http://example.com"])
def test_domain_name_invalid(value: str) -> None:
    assert rejects(s.HealthMonitorPOST, monitor(domain_name=value))[0][0] == "domain_name"


def test_http_version() -> None:
    assert s.HealthMonitorPOST.model_validate(monitor(http_version=1.0)).http_version == 1.0
    assert s.HealthMonitorPOST.model_validate(monitor(http_version=1.1)).http_version == 1.1
    assert s.HealthMonitorPOST.model_validate(monitor(http_version="1.0")).http_version == 1.0
    for bad in (2.0, 1.2, "1.2", "1,1", "v1.1", 0, True):
        assert rejects(s.HealthMonitorPOST, monitor(http_version=bad))[0][0] == "http_version"


# --- cookie names and session persistence rules ----------------------------------------

@pytest.mark.parametrize("name", ["JSESSIONID", "sid", "a.b-c_d", "x!#$%&'*+^`|~"])
def test_cookie_name_valid(name: str) -> None:
    sp = s.SessionPersistence.model_validate({"type": "APP_COOKIE", "cookie_name": name})
    assert sp.cookie_name == name


@pytest.mark.parametrize("name", ["a b", "a;b", "a,b", "a=b", 'a"b', "a\\b", "a\tb", "a\nb",
                                  "(x)", "x" * 256])
def test_cookie_name_invalid(name: str) -> None:
    locs = rejects(s.SessionPersistence, {"type": "APP_COOKIE", "cookie_name": name})
    assert locs[0][0] == "cookie_name"


@pytest.mark.parametrize("data", [
    {"type": "APP_COOKIE"},
    {"type": "APP_COOKIE", "cookie_name": ""},
    {"type": "HTTP_COOKIE", "cookie_name": "sid"},
    {"type": "SOURCE_IP", "cookie_name": "sid"},
    {"type": "SOURCE_IP", "persistence_timeout": -1},
    {"type": "SOURCE_IP", "persistence_timeout": "1.5"},
    {"type": "SOURCE_IP", "persistence_granularity": "255.255.255.x"},
])
def test_session_persistence_rules(data: dict[str, Any]) -> None:
    assert rejects(s.SessionPersistence, data)


def test_session_persistence_udp_fields_pass_the_schema() -> None:
    # Whether the pool's protocol takes them is builders.check_session_persistence's call.
    sp = s.SessionPersistence.model_validate(
        {"type": "SOURCE_IP", "persistence_timeout": 10, "persistence_granularity": "255.255.255.0"})
    assert (sp.persistence_timeout, sp.persistence_granularity) == (10, "255.255.255.0")


def test_session_persistence_messages() -> None:
    text = message(s.PoolPOST, pool(session_persistence={"type": "APP_COOKIE"}), "pool")
    assert text.startswith("Invalid input for field/attribute pool.session_persistence.")
    assert "cookie_name" in text and "Value error" not in text


# --- identifiers, addresses, tags ----------------------------------------------------

@pytest.mark.parametrize("value", ["x", "0b7c5d39-1f0e-4a57-9d0c", UUID + "0", 5, None])
def test_uuid_fields(value: Any) -> None:
    assert rejects(s.ListenerPOST, listener(loadbalancer_id=value))[0][0] == "loadbalancer_id"


def test_uuid_without_dashes_or_uppercase_is_accepted() -> None:
    for value in (UUID.replace("-", ""), UUID.upper()):
        assert s.ListenerPOST.model_validate(listener(loadbalancer_id=value)).loadbalancer_id


@pytest.mark.parametrize("value, normal", [
    ("192.0.2.1", "192.0.2.1"), ("2001:DB8::1", "2001:db8::1"),
    ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"), ("::ffff:1.2.3.4", "::ffff:102:304")])
def test_addresses_are_normalised(value: str, normal: str) -> None:
    assert s.MemberSingle.model_validate(member(address=value)).address == normal


@pytest.mark.parametrize("value", ["192.0.2", "192.0.2.256", "host.example", "10.0.0.0/24", "",
                                   3232235521])
def test_bad_addresses(value: Any) -> None:
    assert rejects(s.MemberSingle, member(address=value))[0][0] == "address"


@pytest.mark.parametrize("field", ["name", "description", "project_id", "tenant_id"])
def test_text_refuses_nul(field: str) -> None:
    assert rejects(s.LoadBalancerPOST, {"vip_subnet_id": UUID, field: "a\x00b"})[0][0] == field
    assert s.LoadBalancerPOST.model_validate({"vip_subnet_id": UUID, field: "a\tb"})


def test_tags() -> None:
    assert s.MemberSingle.model_validate(member(tags=["a", "b"])).tags == ["a", "b"]
    assert s.MemberSingle.model_validate(member(tags=[])).tags == []
    for bad in (["a", "a"], ["t" * 256], "a", [1], {"a": 1}, ["\x00"]):
        assert rejects(s.MemberSingle, member(tags=bad))[0][0] == "tags", bad


def test_insert_headers() -> None:
    ok = s.ListenerPOST.model_validate(listener(insert_headers={
        "X-Forwarded-For": "true", "X-Forwarded-Port": "False", "X-Real-IP": "true"}))
    assert ok.insert_headers == {"X-Forwarded-For": "true", "X-Forwarded-Port": "False",
                                 "X-Real-IP": "true"}
    for bad in ({"X-Custom": "true"}, {"X-Forwarded-For": "1"}, {"X-Forwarded-For": True},
                {"X-SSL-Client-Foo": "true"}, ["X-Forwarded-For"]):
        assert rejects(s.ListenerPOST, listener(insert_headers=bad))[0][0] == "insert_headers"


# --- unknown attributes ---------------------------------------------------------------

@pytest.mark.parametrize("model, data, loc", [
    (s.LoadBalancerCreate, {"loadbalancer": {"vip_subnet_id": UUID, "colour": 1}},
     ("loadbalancer", "colour")),
    (s.LoadBalancerCreate, {"loadbalancer": {"vip_subnet_id": UUID}, "extra": 1}, ("extra",)),
    (s.LoadBalancerCreate, {"loadbalancer": {"vip_subnet_id": UUID, "listeners": [
        {"protocol": "HTTP", "protocol_port": 80, "default_pool": {
            "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
            "members": [member(colour=1)]}}]}},
     ("loadbalancer", "listeners", 0, "default_pool", "members", 0, "colour")),
    (s.ListenerUpdate, {"listener": {"protocol_port": 81}}, ("listener", "protocol_port")),
    (s.PoolUpdate, {"pool": {"protocol": "TCP"}}, ("pool", "protocol")),
    (s.MemberUpdate, {"member": {"address": "192.0.2.9"}}, ("member", "address")),
    (s.HealthMonitorUpdate, {"healthmonitor": {"type": "TCP"}}, ("healthmonitor", "type")),
    (s.LoadBalancerUpdate, {"loadbalancer": {"vip_address": "192.0.2.9"}},
     ("loadbalancer", "vip_address")),
    (s.HealthMonitorCreate, {"healthmonitor": monitor(description="d")},
     ("healthmonitor", "description")),
    (s.PoolCreate, {"pool": pool(session_persistence={"type": "SOURCE_IP", "ttl": 1})},
     ("pool", "session_persistence", "ttl")),
])
def test_unknown_attributes_are_refused(model: type[BaseModel], data: dict[str, Any],
                                        loc: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    found = [(tuple(e["loc"]), e["type"]) for e in info.value.errors()]
    assert (loc, "extra_forbidden") in found


def test_unknown_attribute_message_names_it() -> None:
    text = message(s.ListenerPOST, listener(colour="red"), "listener")
    assert text == ("Invalid input for field/attribute listener. Unknown attribute for "
                    "argument listener: colour")


def test_missing_field_message() -> None:
    data = listener()
    del data["protocol_port"]
    assert message(s.ListenerPOST, data, "listener") == (
        "Invalid input for field/attribute listener.protocol_port. Mandatory field missing.")


def test_invalid_value_message() -> None:
    text = message(s.MemberSingle, member(weight=300), "member")
    assert text.startswith("Invalid input for field/attribute member.weight. Value: '300'. ")


def test_long_values_are_shortened_in_messages() -> None:
    text = message(s.ListenerPOST, listener(name="n" * 1000), "listener")
    assert "n" * 200 + "..." in text and "n" * 201 not in text


# --- requiredness and pool references ---------------------------------------------------

def test_required_fields() -> None:
    assert set(loc[0] for loc in rejects(s.ListenerPOST, {})) == {
        "loadbalancer_id", "protocol", "protocol_port"}
    assert set(loc[0] for loc in rejects(s.HealthMonitorPOST, {})) == {
        "pool_id", "type", "delay", "timeout", "max_retries"}
    assert set(loc[0] for loc in rejects(s.MemberSingle, {})) == {"address", "protocol_port"}
    assert set(loc[0] for loc in rejects(s.PoolPOST, {})) == {"protocol", "lb_algorithm"}


def test_a_pool_given_by_name_alone_is_a_reference() -> None:
    ref = s.PoolSingle.model_validate({"name": "web"})
    assert ref.is_reference and ref.protocol is None
    full = s.PoolSingle.model_validate({"name": "web", "protocol": "HTTP",
                                        "lb_algorithm": "ROUND_ROBIN"})
    assert not full.is_reference
    assert not s.PoolSingle.model_validate({"name": "web", "members": []}).is_reference


def test_updates_accept_null_and_nothing() -> None:
    assert s.MemberPUT.model_validate({}).model_fields_set == set()
    upd = s.MemberPUT.model_validate({"weight": None, "backup": None})
    assert upd.model_fields_set == {"weight", "backup"} and upd.weight is None
    assert s.HealthMonitorPUT.model_validate({"delay": None}).delay is None
