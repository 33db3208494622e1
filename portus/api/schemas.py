"""Request bodies of the Octavia v2 API, defined once: validation and OpenAPI derive from these.

Strict types: JSON `"80"` is not a port and `"true"` is not a boolean, as in Octavia.
Unknown attributes are refused (400).
"""
from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, StrictBool,
                      StrictInt, StrictStr, model_validator)

from portus.common import constants as C

_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
_URL_PATH_RE = re.compile(r"^/[^\s#]*$")
_CODES_RE = re.compile(r"^(\d{3}(\s*,\s*\d{3})*)$|^(\d{3}-\d{3})$")
_DOMAIN_RE = re.compile(r"^(?=.{1,255}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")
_COOKIE_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
INSERT_HEADERS = ("X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto",
                  "X-Forwarded-IP", "X-Client-IP", "X-Real-IP")


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


def _tags(value: list[str]) -> list[str]:
    if len(set(value)) != len(value):
        raise ValueError("tags must be unique")
    return value


UUID = Annotated[StrictStr, AfterValidator(_uuid)]
IP = Annotated[StrictStr, AfterValidator(_ip)]
Name = Annotated[StrictStr, Field(max_length=255)]
Port = Annotated[StrictInt, Field(ge=C.MIN_PORT, le=C.MAX_PORT)]
Timeout = Annotated[StrictInt, Field(ge=0, le=C.MAX_TIMEOUT)]
Tags = Annotated[list[Annotated[StrictStr, Field(max_length=255)]], AfterValidator(_tags)]
Retries = Annotated[StrictInt, Field(ge=C.MIN_HM_RETRIES, le=C.MAX_HM_RETRIES)]
ListenerProtocol = Literal["HTTP", "TCP"]
PoolProtocol = Literal["HTTP", "TCP", "PROXY", "PROXYV2"]
Algorithm = Literal["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"]
HMType = Literal["HTTP", "TCP"]
HTTPMethod = Literal["GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Owned(Strict):
    project_id: Annotated[StrictStr, Field(max_length=36)] | None = None
    tenant_id: Annotated[StrictStr, Field(max_length=36)] | None = None


class SessionPersistence(Strict):
    type: Literal["SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE"]
    cookie_name: Annotated[StrictStr, Field(max_length=255), AfterValidator(_cookie)] | None = None
    persistence_timeout: StrictInt | None = None
    persistence_granularity: StrictStr | None = None

    @model_validator(mode="after")
    def _cookie_rules(self) -> "SessionPersistence":
        if self.type == "APP_COOKIE" and not self.cookie_name:
            raise ValueError("Field 'cookie_name' must be specified when using the APP_COOKIE "
                             "session persistence type.")
        if self.type != "APP_COOKIE" and self.cookie_name:
            raise ValueError("Field 'cookie_name' can only be specified when using the "
                             "APP_COOKIE session persistence type.")
        if self.persistence_timeout is not None or self.persistence_granularity is not None:
            raise ValueError("persistence_timeout and persistence_granularity are only for "
                             "UDP and SCTP pools.")
        return self


# --- health monitors ---------------------------------------------------------------

class _HMFields(Strict):
    name: Name | None = None
    admin_state_up: StrictBool = True
    http_method: HTTPMethod | None = None
    url_path: Annotated[StrictStr, Field(max_length=2048), AfterValidator(_url_path)] | None = None
    expected_codes: Annotated[StrictStr, AfterValidator(_codes)] | None = None
    http_version: Literal[1.0, 1.1] | None = None
    domain_name: Annotated[StrictStr, AfterValidator(_domain)] | None = None
    max_retries_down: Retries | None = None
    tags: Tags | None = None


class HealthMonitorSingle(_HMFields, _Owned):
    type: HMType
    delay: Annotated[StrictInt, Field(ge=0)]
    timeout: Annotated[StrictInt, Field(ge=0)]
    max_retries: Retries


class HealthMonitorPOST(HealthMonitorSingle):
    pool_id: UUID


class HealthMonitorPUT(Strict):
    name: Name | None = None
    admin_state_up: StrictBool | None = None
    delay: Annotated[StrictInt, Field(ge=0)] | None = None
    timeout: Annotated[StrictInt, Field(ge=0)] | None = None
    max_retries: Retries | None = None
    max_retries_down: Retries | None = None
    http_method: HTTPMethod | None = None
    url_path: Annotated[StrictStr, Field(max_length=2048), AfterValidator(_url_path)] | None = None
    expected_codes: Annotated[StrictStr, AfterValidator(_codes)] | None = None
    http_version: Literal[1.0, 1.1] | None = None
    domain_name: Annotated[StrictStr, AfterValidator(_domain)] | None = None
    tags: Tags | None = None


# --- members -----------------------------------------------------------------------

class MemberSingle(_Owned):
    name: Name | None = None
    address: IP
    protocol_port: Port
    weight: Annotated[StrictInt, Field(ge=C.MIN_WEIGHT, le=C.MAX_WEIGHT)] | None = None
    backup: StrictBool = False
    admin_state_up: StrictBool = True
    subnet_id: UUID | None = None
    monitor_address: IP | None = None
    monitor_port: Port | None = None
    tags: Tags | None = None


class MemberPUT(Strict):
    name: Name | None = None
    weight: Annotated[StrictInt, Field(ge=C.MIN_WEIGHT, le=C.MAX_WEIGHT)] | None = None
    backup: StrictBool | None = None
    admin_state_up: StrictBool | None = None
    monitor_address: IP | None = None
    monitor_port: Port | None = None
    tags: Tags | None = None


# --- pools -------------------------------------------------------------------------

class _PoolFields(_Owned):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: StrictBool = True
    protocol: PoolProtocol
    lb_algorithm: Algorithm
    session_persistence: SessionPersistence | None = None
    tls_enabled: Literal[False] = False
    tags: Tags | None = None


class PoolSingle(_PoolFields):
    """A pool inside a fully populated load balancer or listener."""
    members: list[MemberSingle] | None = None
    healthmonitor: HealthMonitorSingle | None = None


class PoolPOST(PoolSingle):
    loadbalancer_id: UUID | None = None
    listener_id: UUID | None = None


class PoolPUT(Strict):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: StrictBool | None = None
    lb_algorithm: Algorithm | None = None
    session_persistence: SessionPersistence | None = None
    tls_enabled: Literal[False] | None = None
    tags: Tags | None = None


# --- listeners ---------------------------------------------------------------------

class _ListenerFields(_Owned):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: StrictBool = True
    protocol: ListenerProtocol
    protocol_port: Port
    connection_limit: Annotated[StrictInt, Field(ge=-1)] | None = None
    timeout_client_data: Timeout | None = None
    timeout_member_connect: Timeout | None = None
    timeout_member_data: Timeout | None = None
    timeout_tcp_inspect: Timeout | None = None
    insert_headers: dict[Literal[INSERT_HEADERS], Literal["true", "false", "True", "False"]] | None = None  # type: ignore[valid-type]
    tags: Tags | None = None


class ListenerSingle(_ListenerFields):
    default_pool_id: UUID | None = None
    default_pool: PoolSingle | None = None


class ListenerPOST(_ListenerFields):
    loadbalancer_id: UUID
    default_pool_id: UUID | None = None
    default_pool: PoolSingle | None = None


class ListenerPUT(Strict):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: StrictBool | None = None
    connection_limit: Annotated[StrictInt, Field(ge=-1)] | None = None
    default_pool_id: UUID | None = None
    timeout_client_data: Timeout | None = None
    timeout_member_connect: Timeout | None = None
    timeout_member_data: Timeout | None = None
    timeout_tcp_inspect: Timeout | None = None
    insert_headers: dict[Literal[INSERT_HEADERS], Literal["true", "false", "True", "False"]] | None = None  # type: ignore[valid-type]
    tags: Tags | None = None


# --- load balancers ----------------------------------------------------------------

class LoadBalancerPOST(_Owned):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: StrictBool = True
    vip_subnet_id: UUID | None = None
    vip_network_id: UUID | None = None
    vip_port_id: UUID | None = None
    vip_address: IP | None = None
    vip_qos_policy_id: UUID | None = None
    provider: Annotated[StrictStr, Field(max_length=64)] | None = None
    flavor_id: UUID | None = None
    availability_zone: Name | None = None
    listeners: list[ListenerSingle] | None = None
    pools: list[PoolSingle] | None = None
    tags: Tags | None = None


class LoadBalancerPUT(Strict):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: StrictBool | None = None
    vip_qos_policy_id: UUID | None = None
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

