"""Request bodies of the Octavia v2 API, defined once: validation and OpenAPI derive from these.

Scalars as Octavia (WSME) reads them: an integer attribute takes a JSON integer or a
JSON string of one (`"83"` is 83; WSME applies int()), a boolean takes true/false, a
JSON integer (0 is false) or one of WSME's words ("true", "t", "yes", "y", "on", "1" and
"false", "f", "no", "n", "off", "0", exactly so: "True" is refused), and http_version
also a JSON string of its number. Anything else is refused: `"1.5"` or `1.5` for an
integer, `"abc"`, a boolean for an integer, an empty string. Text stays text: `80` is
not a name. Unknown attributes are refused (400).

The OpenAPI document shows these input forms (an integer or a string of digits; a
boolean, an integer or one of the words); the answers always carry real integers and
booleans.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal, get_args

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool,
                      StrictFloat, StrictInt, StrictStr, model_validator)

from portus.common import constants as C

_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
# No whitespace, control characters or fragment; "//host/..." would name a host.
_URL_PATH_RE = re.compile(r"^/(?!/)[^\s#\x00-\x1f\x7f]*$")
_CODES_RE = re.compile(r"^(\d{3}(\s*,\s*\d{3})*)$|^(\d{3}-\d{3})$")
_DOMAIN_RE = re.compile(r"^(?=.{1,255}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")
_COOKIE_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
InsertHeader = Literal["X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto",
                  "X-Forwarded-IP", "X-Client-IP", "X-Real-IP",
                  "X-SSL-Client-Verify", "X-SSL-Client-Has-Cert", "X-SSL-Client-DN",
                  "X-SSL-Client-CN", "X-SSL-Issuer", "X-SSL-Client-SHA1",
                  "X-SSL-Client-Not-Before", "X-SSL-Client-Not-After"]
INSERT_HEADERS = get_args(InsertHeader)
HeaderFlag = Literal["true", "false", "True", "False"]


def _uuid(value: str) -> str:
    if not _UUID_RE.match(value):
        raise ValueError("Value should be UUID format")
    return value


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("Value should be IP address format") from None


def _url_path(value: str) -> str:
    if not _URL_PATH_RE.match(value):
        raise ValueError("URL path must start with / and contain no whitespace")
    return value


def _codes(value: str) -> str:
    if not _CODES_RE.match(value):
        raise ValueError("expected_codes must be a code (200), a list (200, 202) or a range (200-204)")
    if "-" in value:
        low, high = (int(v) for v in value.split("-"))
        if low > high:
            raise ValueError("expected_codes range must go from low to high")
    return value


def _domain(value: str) -> str:
    if not _DOMAIN_RE.match(value):
        raise ValueError("domain_name must be a valid host name")
    return value


def _cookie(value: str) -> str:
    if not _COOKIE_RE.match(value):
        raise ValueError("cookie_name contains characters not allowed in a cookie name")
    return value


def _text(value: str) -> str:
    # PostgreSQL cannot store NUL in text; nobody means one.
    if "\x00" in value:
        raise ValueError("Value must not contain NUL characters")
    return value


def _http_version(value: float) -> float:
    if isinstance(value, bool) or value not in (1.0, 1.1):
        raise ValueError("Input should be 1.0 or 1.1")
    return value


def _tags(value: list[str]) -> list[str]:
    if len(set(value)) != len(value):
        raise ValueError("tags must be unique")
    return value


UUID = Annotated[StrictStr, AfterValidator(_uuid)]
IP = Annotated[StrictStr, AfterValidator(_ip)]
Text = Annotated[StrictStr, AfterValidator(_text)]
Name = Annotated[Text, Field(max_length=255)]
# What int() reads, in ASCII digits (int() also takes "1_000" and other scripts' digits).
_INT_TEXT_RE = r"^\s*[+-]?[0-9]{1,20}\s*$"
IntText = Annotated[str, Field(pattern=_INT_TEXT_RE)]
_FLOAT_TEXT_RE = r"^\s*[0-9]{1,10}(\.[0-9]{1,10})?\s*$"
FloatText = Annotated[str, Field(pattern=_FLOAT_TEXT_RE)]
BoolText = Literal["true", "t", "yes", "y", "on", "1", "false", "f", "no", "n", "off", "0"]


def int_from_text(value: object) -> object:
    """WSME reads an integer attribute with int(): a JSON string of an integer is one.
    Anything else goes on unchanged, for the strict type to refuse."""
    if isinstance(value, str) and re.match(_INT_TEXT_RE, value):
        return int(value)
    return value


def float_from_text(value: object) -> object:
    if isinstance(value, str) and re.match(_FLOAT_TEXT_RE, value):
        return float(value)
    return value


def bool_from_json(value: object) -> object:
    """WSME's bool: a JSON integer (0 false, any other true) or one of its words, exactly."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value != 0
    if isinstance(value, str):
        if value in C.TRUE_WORDS:
            return True
        if value in C.FALSE_WORDS:
            return False
    return value


def _lenient(ge: int | None = None, le: int | None = None) -> BeforeValidator:
    """An integer attribute as WSME reads it; the document shows both forms."""
    return BeforeValidator(int_from_text,
                           json_schema_input_type=Annotated[int, Field(ge=ge, le=le)] | IntText)


Bool = Annotated[StrictBool, BeforeValidator(bool_from_json,
                                             json_schema_input_type=bool | int | BoolText)]
# Integer columns are 32-bit signed on every database.
_INT32 = 2**31 - 1
Count = Annotated[StrictInt, Field(ge=0, le=_INT32), _lenient(0, _INT32)]
ConnectionLimit = Annotated[StrictInt, Field(ge=-1, le=_INT32), _lenient(-1, _INT32)]
Port = Annotated[StrictInt, Field(ge=C.MIN_PORT, le=C.MAX_PORT), _lenient(C.MIN_PORT, C.MAX_PORT)]
Timeout = Annotated[StrictInt, Field(ge=0, le=C.MAX_TIMEOUT), _lenient(0, C.MAX_TIMEOUT)]
Weight = Annotated[StrictInt, Field(ge=C.MIN_WEIGHT, le=C.MAX_WEIGHT),
                   _lenient(C.MIN_WEIGHT, C.MAX_WEIGHT)]
Tags = Annotated[list[Annotated[Text, Field(max_length=255)]], AfterValidator(_tags)]
Retries = Annotated[StrictInt, Field(ge=C.MIN_HM_RETRIES, le=C.MAX_HM_RETRIES),
                    _lenient(C.MIN_HM_RETRIES, C.MAX_HM_RETRIES)]
# A secret ref: <api>/v1/secrets/<uuid> or a bare uuid (checked against the store).
Ref = Annotated[StrictStr, Field(min_length=1, max_length=255)]
TLSVersion = Literal["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
ALPN = Literal["h2", "http/1.1", "http/1.0"]
# OpenSSL cipher-list syntax only: no spaces or quotes can reach the haproxy config.
Ciphers = Annotated[StrictStr, Field(min_length=1, max_length=2048,
                                     pattern=r"^[A-Za-z0-9\-+!:@=_.]+$")]
TLSVersions = Annotated[list[TLSVersion], Field(min_length=1)]
ALPNs = Annotated[list[ALPN], Field(min_length=1)]
HstsMaxAge = Count


def _cidrs(value: list[str]) -> list[str]:
    out: list[str] = []
    for item in value:
        try:
            net = str(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not a valid CIDR") from None
        if net not in out:
            out.append(net)
    return out


CIDRs = Annotated[list[StrictStr], AfterValidator(_cidrs)]
ListenerProtocol = Literal["HTTP", "HTTPS", "TCP", "TERMINATED_HTTPS", "UDP", "SCTP",
                           "PROMETHEUS"]
PoolProtocol = Literal["HTTP", "HTTPS", "TCP", "PROXY", "PROXYV2", "UDP", "SCTP"]
# SOURCE_IP_PORT passes the schema; the provider decides (the amphora provider: 501).
Algorithm = Literal["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "SOURCE_IP_PORT"]
HMType = Literal["HTTP", "HTTPS", "TCP", "TLS-HELLO", "PING", "UDP-CONNECT", "SCTP"]
# mypy refuses float literals; the validator checks the values.
HTTPVersion = Annotated[StrictFloat, BeforeValidator(float_from_text,
                                                     json_schema_input_type=float | FloatText),
                        AfterValidator(_http_version)]
HTTPMethod = Literal["GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Owned(Strict):
    project_id: Annotated[Text, Field(max_length=36)] | None = None
    tenant_id: Annotated[Text, Field(max_length=36)] | None = None


class SessionPersistence(Strict):
    type: Literal["SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE"]
    cookie_name: Annotated[StrictStr, Field(max_length=255), AfterValidator(_cookie)] | None = None
    # Only for UDP and SCTP pools (builders.check_session_persistence knows the protocol).
    persistence_timeout: Count | None = None
    persistence_granularity: IP | None = None  # a netmask applied to the source address

    @model_validator(mode="after")
    def _cookie_rules(self) -> "SessionPersistence":
        if self.type == "APP_COOKIE" and not self.cookie_name:
            raise ValueError("Field 'cookie_name' must be specified when using the APP_COOKIE "
                             "session persistence type.")
        if self.type != "APP_COOKIE" and self.cookie_name:
            raise ValueError("Field 'cookie_name' can only be specified when using the "
                             "APP_COOKIE session persistence type.")
        return self


# --- health monitors ---------------------------------------------------------------

class _HMFields(Strict):
    name: Name | None = None
    admin_state_up: Bool = True
    http_method: HTTPMethod | None = None
    url_path: Annotated[StrictStr, Field(max_length=2048), AfterValidator(_url_path)] | None = None
    expected_codes: Annotated[StrictStr, Field(max_length=64), AfterValidator(_codes)] | None = None
    http_version: HTTPVersion | None = None
    domain_name: Annotated[StrictStr, AfterValidator(_domain)] | None = None
    max_retries_down: Retries | None = None
    tags: Tags | None = None


class HealthMonitorSingle(_HMFields, _Owned):
    type: HMType
    delay: Count
    timeout: Count
    max_retries: Retries


class HealthMonitorPOST(HealthMonitorSingle):
    pool_id: UUID


class HealthMonitorPUT(Strict):
    name: Name | None = None
    admin_state_up: Bool | None = None
    delay: Count | None = None
    timeout: Count | None = None
    max_retries: Retries | None = None
    max_retries_down: Retries | None = None
    http_method: HTTPMethod | None = None
    url_path: Annotated[StrictStr, Field(max_length=2048), AfterValidator(_url_path)] | None = None
    expected_codes: Annotated[StrictStr, Field(max_length=64), AfterValidator(_codes)] | None = None
    http_version: HTTPVersion | None = None
    domain_name: Annotated[StrictStr, AfterValidator(_domain)] | None = None
    tags: Tags | None = None


# --- members -----------------------------------------------------------------------

class MemberSingle(_Owned):
    name: Name | None = None
    address: IP
    protocol_port: Port
    weight: Weight | None = None
    backup: Bool = False
    admin_state_up: Bool = True
    subnet_id: UUID | None = None
    monitor_address: IP | None = None
    monitor_port: Port | None = None
    request_sriov: Bool = False
    tags: Tags | None = None


class MemberPUT(Strict):
    name: Name | None = None
    weight: Weight | None = None
    backup: Bool | None = None
    admin_state_up: Bool | None = None
    monitor_address: IP | None = None
    monitor_port: Port | None = None
    tags: Tags | None = None


# --- pools -------------------------------------------------------------------------

class _PoolOptions(Strict):
    """What a pool create and update both take (null: the default)."""
    session_persistence: SessionPersistence | None = None
    tls_container_ref: Ref | None = None
    ca_tls_container_ref: Ref | None = None
    crl_container_ref: Ref | None = None
    tls_ciphers: Ciphers | None = None
    tls_versions: TLSVersions | None = None
    alpn_protocols: ALPNs | None = None
    tags: Tags | None = None


class _PoolFields(_PoolOptions, _Owned):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: Bool = True
    protocol: PoolProtocol
    lb_algorithm: Algorithm
    tls_enabled: Bool = False


class PoolSingle(_PoolFields):
    """A pool inside a fully populated load balancer or listener.

    As in Octavia, a listener's default_pool given by its name alone refers to a pool
    of loadbalancer.pools, so protocol and lb_algorithm may be absent here; the
    handlers require them wherever a pool is defined (builders.new_pool)."""
    protocol: PoolProtocol | None = None  # type: ignore[assignment]
    lb_algorithm: Algorithm | None = None  # type: ignore[assignment]
    members: list[MemberSingle] | None = None
    healthmonitor: HealthMonitorSingle | None = None

    @property
    def is_reference(self) -> bool:
        return self.model_fields_set <= {"name"}


class PoolPOST(PoolSingle):
    protocol: PoolProtocol
    lb_algorithm: Algorithm
    loadbalancer_id: UUID | None = None
    listener_id: UUID | None = None


class SessionPersistencePUT(SessionPersistence):
    """On a pool PUT the type may be left out: the pool keeps its old type, and
    pools.update_pool checks the merged result with SessionPersistence."""
    type: Literal["SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE"] | None = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _cookie_rules(self) -> "SessionPersistencePUT":
        return self  # checked on the merged result


class PoolPUT(_PoolOptions):
    session_persistence: SessionPersistencePUT | None = None
    name: Name | None = None
    description: Name | None = None
    admin_state_up: Bool | None = None
    lb_algorithm: Algorithm | None = None
    tls_enabled: Bool | None = None


# --- listeners ---------------------------------------------------------------------

class _ListenerOptions(Strict):
    """What a listener create and update both take (null: the default)."""
    connection_limit: ConnectionLimit | None = None
    timeout_client_data: Timeout | None = None
    timeout_member_connect: Timeout | None = None
    timeout_member_data: Timeout | None = None
    timeout_tcp_inspect: Timeout | None = None
    insert_headers: dict[InsertHeader, HeaderFlag] | None = None
    default_tls_container_ref: Ref | None = None
    sni_container_refs: list[Ref] | None = None
    client_authentication: Literal["NONE", "OPTIONAL", "MANDATORY"] | None = None
    client_ca_tls_container_ref: Ref | None = None
    client_crl_container_ref: Ref | None = None
    tls_ciphers: Ciphers | None = None
    tls_versions: TLSVersions | None = None
    alpn_protocols: ALPNs | None = None
    hsts_max_age: HstsMaxAge | None = None
    hsts_include_subdomains: Bool | None = None
    hsts_preload: Bool | None = None
    allowed_cidrs: CIDRs | None = None
    tags: Tags | None = None


class _ListenerFields(_ListenerOptions, _Owned):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: Bool = True
    protocol: ListenerProtocol
    protocol_port: Port


class ListenerSingle(_ListenerFields):
    default_pool_id: UUID | None = None
    default_pool: PoolSingle | None = None
    l7policies: list[L7PolicySingle] | None = None


class ListenerPOST(_ListenerFields):
    loadbalancer_id: UUID
    default_pool_id: UUID | None = None
    default_pool: PoolSingle | None = None
    l7policies: list[L7PolicySingle] | None = None


class ListenerPUT(_ListenerOptions):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: Bool | None = None
    default_pool_id: UUID | None = None


# --- load balancers ----------------------------------------------------------------

class AdditionalVip(Strict):
    subnet_id: UUID
    ip_address: IP | None = None


class LoadBalancerPOST(_Owned):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: Bool = True
    vip_subnet_id: UUID | None = None
    vip_network_id: UUID | None = None
    vip_port_id: UUID | None = None
    vip_address: IP | None = None
    vip_qos_policy_id: UUID | None = None
    vip_sg_ids: list[UUID] | None = None
    additional_vips: list[AdditionalVip] | None = None
    provider: Annotated[Text, Field(max_length=64)] | None = None
    flavor_id: UUID | None = None
    availability_zone: Name | None = None
    listeners: list[ListenerSingle] | None = None
    pools: list[PoolSingle] | None = None
    tags: Tags | None = None


class LoadBalancerPUT(Strict):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: Bool | None = None
    vip_qos_policy_id: UUID | None = None
    vip_sg_ids: list[UUID] | None = None
    tags: Tags | None = None


# --- request envelopes (Octavia wraps each body in a singular root key) -------------

class LoadBalancerCreate(Strict):
    loadbalancer: LoadBalancerPOST


class LoadBalancerUpdate(Strict):
    loadbalancer: LoadBalancerPUT


class ListenerCreate(Strict):
    listener: ListenerPOST


class ListenerUpdate(Strict):
    listener: ListenerPUT


class PoolCreate(Strict):
    pool: PoolPOST


class PoolUpdate(Strict):
    pool: PoolPUT


class MemberCreate(Strict):
    member: MemberSingle


class MemberUpdate(Strict):
    member: MemberPUT


class HealthMonitorCreate(Strict):
    healthmonitor: HealthMonitorPOST


class HealthMonitorUpdate(Strict):
    healthmonitor: HealthMonitorPUT



# --- L7 policies and rules ---------------------------------------------------------
# Cross-field rules (type vs compare_type, key, value syntax, action vs redirect fields)
# need the stored object on PUT, so they live in portus/api/l7checks.py.

L7Action = Literal["REJECT", "REDIRECT_TO_URL", "REDIRECT_TO_POOL", "REDIRECT_PREFIX"]
L7RuleType = Literal["HOST_NAME", "PATH", "FILE_TYPE", "HEADER", "COOKIE", "SSL_CONN_HAS_CERT",
                     "SSL_VERIFY_RESULT", "SSL_DN_FIELD"]
L7CompareType = Literal["REGEX", "STARTS_WITH", "ENDS_WITH", "CONTAINS", "EQUAL_TO"]
RedirectCode = Annotated[Literal[301, 302, 303, 307, 308], BeforeValidator(
    int_from_text, json_schema_input_type=Literal[301, 302, 303, 307, 308] | IntText)]
Position = Annotated[StrictInt, Field(ge=1, le=_INT32), _lenient(1, _INT32)]
RedirectURL = Annotated[Text, Field(max_length=2048)]
RuleText = Annotated[Text, Field(min_length=1, max_length=255)]


class L7RuleSingle(_Owned):
    type: L7RuleType
    compare_type: L7CompareType
    key: RuleText | None = None
    value: RuleText
    invert: Bool = False
    admin_state_up: Bool = True
    tags: Tags | None = None


class L7RulePUT(Strict):
    type: L7RuleType | None = None
    compare_type: L7CompareType | None = None
    key: RuleText | None = None
    value: RuleText | None = None
    invert: Bool | None = None
    admin_state_up: Bool | None = None
    tags: Tags | None = None


class _L7PolicyFields(_Owned):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: Bool = True
    action: L7Action
    redirect_pool_id: UUID | None = None
    redirect_url: RedirectURL | None = None
    redirect_prefix: RedirectURL | None = None
    redirect_http_code: RedirectCode | None = None
    position: Position | None = None
    rules: list[L7RuleSingle] | None = None
    tags: Tags | None = None


class L7PolicySingle(_L7PolicyFields):
    """A policy inside a fully populated listener: its redirect pool by name."""
    redirect_pool: PoolSingle | None = None


class L7PolicyPOST(_L7PolicyFields):
    listener_id: UUID


class L7PolicyPUT(Strict):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: Bool | None = None
    action: L7Action | None = None
    redirect_pool_id: UUID | None = None
    redirect_url: RedirectURL | None = None
    redirect_prefix: RedirectURL | None = None
    redirect_http_code: RedirectCode | None = None
    position: Position | None = None
    tags: Tags | None = None


class L7PolicyCreate(Strict):
    l7policy: L7PolicyPOST


class L7PolicyUpdate(Strict):
    l7policy: L7PolicyPUT


class L7RuleCreate(Strict):
    rule: L7RuleSingle


class L7RuleUpdate(Strict):
    rule: L7RulePUT


# Listeners name L7PolicySingle before it exists; resolve those references now.
for _model in (ListenerSingle, ListenerPOST, LoadBalancerPOST, LoadBalancerCreate, ListenerCreate):
    _model.model_rebuild(force=True)
