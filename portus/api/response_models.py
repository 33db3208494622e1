"""Response bodies of the API, for the OpenAPI document: one model per body.

The handlers build their bodies as plain dicts (portus.api.views and the resource
modules; fast); these models only describe them. An attribute a client sets takes its
type, limits and enum values from the request schema (portus.api.schemas,
schemas_admin) through `settable`, so a new request field or a new protocol shows up in
responses without an edit here; only what responses alone carry is declared here.

Every attribute is required (a view always emits it) unless said otherwise: checking a
real response against its model strictly (no unknown attribute, no missing one, as
tests/openapi_conformance.py does for every functional and client test) therefore
proves the view and the model list the same attributes.
"""
from __future__ import annotations

from typing import Annotated, Any, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from portus.api import schemas as s, schemas_admin as sa

ProvisioningStatus = Literal["ACTIVE", "DELETED", "ERROR", "PENDING_CREATE", "PENDING_UPDATE",
                             "PENDING_DELETE"]
OperatingStatus = Literal["ONLINE", "DRAINING", "OFFLINE", "DEGRADED", "ERROR", "NO_MONITOR"]
Timestamp = Annotated[str, Field(description="UTC, ISO 8601 without zone: 2024-01-31T12:00:00")]
Fields = dict[str, Any]  # name -> (annotation, default) as pydantic.create_model takes them


class Body(BaseModel):
    # Open to attributes a later API version adds; the tests check the exact set.
    model_config = ConfigDict(extra="allow")


class Fault(BaseModel):
    """Every error, in Octavia's (WSME) format."""
    model_config = ConfigDict(extra="forbid")
    faultcode: Literal["Client", "Server"]
    faultstring: str
    debuginfo: str | None


class Ref(Body):
    id: str


class Link(Body):
    href: str
    rel: Literal["next", "previous"]


def settable(request: type[BaseModel], skip: Iterable[str] = ()) -> Fields:
    """The attributes of a request body, as a response shows them: same types and
    limits, always present. `skip`: request-only attributes, or ones whose response
    shape differs (children given in full, shown as references)."""
    left_out = set(skip)
    return {name: (_annotation(field), ...)
            for name, field in request.model_fields.items() if name not in left_out}


def _annotation(field: FieldInfo) -> Any:
    if not field.metadata:
        return field.annotation
    return Annotated[(field.annotation, *field.metadata)]


def body(name: str, doc: str, *parts: Fields, base: type[BaseModel] = Body) -> type[BaseModel]:
    """A response model from its parts; a later part gives way to an earlier one, so
    list `settable(...)` first: once a request schema accepts an attribute, its type
    wins over a provisional declaration here."""
    fields: Fields = {}
    for part in parts:
        for field, spec in part.items():
            fields.setdefault(field, spec)
    model: type[BaseModel] = create_model(name, __base__=base, __doc__=doc, **fields)
    return model


def required(**annotations: Any) -> Fields:
    return {k: (v, ...) for k, v in annotations.items()}


def optional(**annotations: Any) -> Fields:
    return {k: (v, None) for k, v in annotations.items()}


def many(model: type[BaseModel]) -> Any:
    """list[model], for models built here (which a type checker cannot see as types)."""
    return list[model]  # type: ignore[valid-type]


# What every load-balancing object shows besides what its request sets.
STATUS = required(id=str, provisioning_status=ProvisioningStatus,
                  operating_status=OperatingStatus, created_at=Timestamp | None,
                  updated_at=Timestamp | None)
OWNED = required(project_id=str, tenant_id=str)

Stats = body("Stats", "Traffic counters.", required(
    bytes_in=int, bytes_out=int, active_connections=int, total_connections=int,
    request_errors=int))

Listener = body("Listener", "A listener.",
                settable(s.ListenerPOST, skip=("loadbalancer_id", "default_pool", "l7policies")),
                STATUS, OWNED, required(loadbalancers=list[Ref], l7policies=list[Ref]))
Pool = body("Pool", "A pool.",
            settable(s.PoolPOST, skip=("loadbalancer_id", "listener_id", "members",
                                       "healthmonitor")),
            STATUS, OWNED, required(loadbalancers=list[Ref], listeners=list[Ref],
                                    members=list[Ref], healthmonitor_id=str | None))
Member = body("Member", "A pool member.", settable(s.MemberSingle, skip=("request_sriov",)),
              STATUS, OWNED,
              required(pool_id=str, vnic_type=Literal["normal", "direct"], description=str))
HealthMonitor = body("HealthMonitor", "A health monitor.",
                     settable(s.HealthMonitorPOST, skip=("pool_id",)), STATUS, OWNED,
                     required(pools=list[Ref]))
L7Policy = body("L7Policy", "An L7 policy.", settable(s.L7PolicyPOST, skip=("rules",)),
                STATUS, OWNED, required(rules=list[Ref]))
L7Rule = body("L7Rule", "An L7 rule.", settable(s.L7RuleSingle), STATUS, OWNED)

AdditionalVip = body("AdditionalVip", "A VIP besides the main one.", settable(s.AdditionalVip),
                     required(port_id=str | None, network_id=str | None))
LoadBalancer = body(
    "LoadBalancer", "A load balancer; its listeners and pools by reference.",
    settable(s.LoadBalancerPOST, skip=("listeners", "pools", "additional_vips")),
    STATUS, OWNED,
    required(listeners=list[Ref], pools=list[Ref], additional_vips=many(AdditionalVip),
             vip_sg_ids=list[str], vip_vnic_type=Literal["normal", "direct"]),
    optional(status_reason=str))  # only while in ERROR
# The answer to a fully populated create: the whole graph in full, as Octavia's
# LoadBalancerFullResponse (ListenerFullResponse, PoolFullResponse, ...): children in
# full instead of references, and no back references (`loadbalancers`, `pools`,
# `healthmonitor_id`) to what encloses them.
HealthMonitorInGraph = body("HealthMonitorInGraph", "A pool's health monitor, in full.",
                            settable(s.HealthMonitorPOST, skip=("pool_id",)), STATUS, OWNED)
L7PolicyInGraph = body("L7PolicyInGraph", "A listener's L7 policy, with its rules in full.",
                       settable(s.L7PolicyPOST, skip=("rules",)), STATUS, OWNED,
                       required(rules=many(L7Rule)))
ListenerInGraph = body("ListenerInGraph", "A listener of a new load balancer, with its "
                       "L7 policies in full.",
                       settable(s.ListenerPOST, skip=("loadbalancer_id", "default_pool",
                                                      "l7policies")),
                       STATUS, OWNED, required(l7policies=many(L7PolicyInGraph)))
PoolInGraph = body("PoolInGraph", "A pool of a new load balancer, with its members and "
                   "health monitor (absent without one) in full.",
                   settable(s.PoolPOST, skip=("loadbalancer_id", "listener_id", "members",
                                              "healthmonitor")),
                   STATUS, OWNED, required(listeners=list[Ref], members=many(Member)),
                   optional(healthmonitor=HealthMonitorInGraph))
LoadBalancerCreated = body(
    "LoadBalancerCreated", "A new load balancer; a fully populated create shows its "
    "listeners and pools, and everything under them, in full.",
    required(listeners=many(ListenerInGraph), pools=many(PoolInGraph)), base=LoadBalancer)

Quota = body("Quota", "Limits of a project (-1: unlimited); the deprecated spellings "
             "(load_balancer, health_monitor) are shown too; a project's limits are the effective "
             "ones (the default where none is set).",
             settable(sa.QuotaPUT), optional(project_id=str, tenant_id=str))
Flavor = body("Flavor", "A flavor.", required(id=str), settable(sa.FlavorPOST))
FlavorProfile = body("FlavorProfile", "A flavor profile.", required(id=str),
                     settable(sa.FlavorProfilePOST))
AvailabilityZone = body("AvailabilityZone", "An availability zone (keyed by name).",
                        settable(sa.AvailabilityZonePOST))
AvailabilityZoneProfile = body("AvailabilityZoneProfile", "An availability zone profile.",
                               required(id=str), settable(sa.AvailabilityZoneProfilePOST))
Provider = body("Provider", "An enabled provider driver.", required(name=str, description=str))
Capability = body("Capability", "An option a provider's flavor or availability zone "
                  "metadata may set.", required(name=str, description=str))

Amphora = body("Amphora", "An amphora (administrators only).", required(
    id=str, loadbalancer_id=str | None, compute_id=str | None, lb_network_ip=str | None,
    vrrp_ip=str | None, ha_ip=str | None, vrrp_port_id=str | None, ha_port_id=str | None,
    cert_expiration=Timestamp | None, cert_busy=bool, role=str | None, status=str,
    vrrp_interface=str | None, vrrp_id=int | None, vrrp_priority=int | None,
    cached_zone=str | None, image_id=str | None, compute_flavor=str | None,
    created_at=Timestamp | None, updated_at=Timestamp | None))
AmphoraStats = body("AmphoraStats", "One listener's counters on an amphora.",
                    required(id=str, listener_id=str, loadbalancer_id=str),
                    settable(Stats))

# The status tree (GET /loadbalancers/{id}/status).
_STATUS_OBJECT = required(id=str, name=str, provisioning_status=ProvisioningStatus,
                          operating_status=OperatingStatus)
MemberStatus = body("MemberStatus", "", _STATUS_OBJECT,
                    required(address=str, protocol_port=int))
HealthMonitorStatus = body("HealthMonitorStatus", "", _STATUS_OBJECT, required(type=str))
PoolStatus = body("PoolStatus", "", _STATUS_OBJECT, required(members=many(MemberStatus)),
                  optional(health_monitor=HealthMonitorStatus))
ListenerStatus = body("ListenerStatus", "", _STATUS_OBJECT, required(pools=many(PoolStatus)))
LoadBalancerStatus = body("LoadBalancerStatus", "", _STATUS_OBJECT,
                          required(listeners=many(ListenerStatus)))
StatusTree = body("StatusTree", "Statuses of a load balancer and everything under it.",
                  required(statuses=body("Statuses", "",
                                         required(loadbalancer=LoadBalancerStatus))))

# Version documents (/ and /v2) and the networking service's (/networking/).
VersionLink = body("VersionLink", "", required(href=str, rel=Literal["self"]))
Version = body("Version", "An API version.", required(
    id=str, status=Literal["CURRENT", "SUPPORTED"], updated=Timestamp, links=many(VersionLink)))
NetworkingVersion = body("NetworkingVersion", "", required(
    id=str, status=Literal["CURRENT"], links=many(VersionLink)))
Versions = body("Versions", "Every API version.", required(versions=many(Version)))
VersionOne = body("VersionOne", "The newest API version.", required(version=Version))
NetworkingVersions = body("NetworkingVersions", "The networking service's versions.",
                          required(versions=many(NetworkingVersion)))

# The read-only networking (Neutron) and identity (Keystone) answers the CLI needs.
AllocationPool = body("AllocationPool", "", required(start=str, end=str))
Subnet = body("Subnet", "A subnet of `network.subnets`, as Neutron shows it.", required(
    id=str, name=str, description=str, network_id=str, cidr=str, ip_version=Literal[4, 6],
    gateway_ip=str | None, allocation_pools=many(AllocationPool), enable_dhcp=bool,
    dns_nameservers=list[str], host_routes=list[dict[str, str]],
    ipv6_address_mode=str | None, ipv6_ra_mode=str | None, subnetpool_id=str | None,
    segment_id=str | None, service_types=list[str], tags=list[str], shared=bool,
    tenant_id=str, project_id=str, revision_number=int, created_at=str, updated_at=str))
Network = body("Network", "A network of `network.subnets`, as Neutron shows it.", required(
    id=str, name=str, description=str, status=Literal["ACTIVE"], admin_state_up=bool,
    shared=bool, subnets=list[str], mtu=int, tags=list[str], tenant_id=str, project_id=str,
    availability_zones=list[str], revision_number=int, created_at=str, updated_at=str),
    {"router_external": (bool, Field(..., alias="router:external"))})
FixedIP = body("FixedIP", "", required(subnet_id=str, ip_address=str))
Port = body("Port", "A load balancer's VIP port, as Octavia creates it in Neutron.", required(
    id=str, name=str, description=str, network_id=str, tenant_id=str, project_id=str,
    admin_state_up=bool, status=Literal["DOWN"], mac_address=str, fixed_ips=many(FixedIP),
    device_id=str, device_owner=Literal["Octavia"], security_groups=list[str],
    allowed_address_pairs=list[dict[str, str]], port_security_enabled=bool,
    qos_policy_id=str | None, tags=list[str], revision_number=int, created_at=str,
    updated_at=str))
SecretRef = body("SecretRef", "Where a new secret is: its ref for *_container_ref fields.",
                 required(secret_ref=str))
SecretContentTypes = body("SecretContentTypes", "", required(default=str))
Secret = body("Secret", "A stored secret's metadata, as Barbican shows it; the payload is "
              "at <secret_ref>/payload.", required(
                  secret_ref=str, name=str | None, secret_type=str, status=Literal["ACTIVE"],
                  algorithm=str | None, bit_length=int | None, mode=str | None,
                  expiration=str | None, content_types=SecretContentTypes,
                  creator_id=str | None, created=str | None, updated=str | None))
SecretList = body("SecretList", "A page of secrets (limit/offset).",
                  required(secrets=many(Secret), total=int), optional(next=str, previous=str))
Nothing = body("Nothing", "Never listed: portus offers none.", {})
ProjectLinks = body("ProjectLinks", "", required(self=str | None))
Project = body("Project", "A project, as Keystone shows it (noauth: any name exists).",
               required(id=str, name=str, domain_id=str, enabled=bool, description=str,
                        is_domain=bool, parent_id=str, tags=list[str], links=ProjectLinks))
ProjectListLinks = body("ProjectListLinks", "", required(self=str | None, next=str | None))
