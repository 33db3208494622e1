"""The small read-only part of the OpenStack Networking (Neutron) v2.0 API that Octavia
clients call, for the subnets and networks portus manages (`network.subnets`).

`openstack loadbalancer create --vip-subnet-id X` and `member create --subnet-id X`
resolve X (a name *or* an id) through the networking service before they call the
load-balancer API; so do `--vip-network-id`, `--vip-port-id`, `--vip-qos-policy-id`,
`--vip-sg-id` and `--additional-vip subnet-id=X`. Without Neutron, point the client's
network endpoint here (`OS_NETWORK_ENDPOINT_OVERRIDE=<api>/networking/`, see README).

Served: GET subnets, subnets/{id}, networks, networks/{id}, ports, ports/{id}
with Neutron's equality filters (repeatable; `fixed_ips=ip_address=…` and
`fixed_ips=subnet_id=…` on ports) and `fields`. The ports are the load balancers' VIP
ports, as Octavia creates them in Neutron: Terraform's OpenStack provider reads a load
balancer's `vip_port_id` there after every read of the load balancer. QoS policies and
security groups are empty lists, since portus has none to offer.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Select, select, union_all
from sqlalchemy.orm import Session

from portus.api import errors
from portus.api.deps import Caller, Services, caller, services
from portus.common import constants as C
from portus.common.config import SubnetConfig
from portus.db import models as m

router = APIRouter()  # served at /networking/v2.0 and at /v2 (see PREFIXES)
discovery = APIRouter()  # served at /networking
# /networking/v2.0: what OS_NETWORK_ENDPOINT_OVERRIDE=<api>/networking/ leads to.
# /v2: where a client with one endpoint for every service (`--os-auth-type none
# --os-endpoint <api>`) looks, as the version document at / lists v2 there.
PREFIXES = ("/networking/v2.0", "/v2")

_EPOCH = "2024-01-01T00:00:00Z"
_RESERVED = {"fields", "limit", "marker", "page_reverse", "sort_key", "sort_dir"}


def subnet_view(sn: SubnetConfig) -> dict[str, Any]:
    return {
        "id": sn.id, "name": sn.name, "description": "", "network_id": sn.network_id,
        "cidr": sn.cidr, "ip_version": sn.network.version, "gateway_ip": sn.gateway,
        "allocation_pools": [{"start": sn.allocation_start, "end": sn.allocation_end}],
        "enable_dhcp": False, "dns_nameservers": [], "host_routes": [],
        "ipv6_address_mode": None, "ipv6_ra_mode": None, "subnetpool_id": None,
        "segment_id": None, "service_types": [], "tags": [], "shared": True,
        "tenant_id": "", "project_id": "", "revision_number": 0,
        "created_at": _EPOCH, "updated_at": _EPOCH,
    }


def network_views(subnets: list[SubnetConfig]) -> list[dict[str, Any]]:
    networks: dict[str, dict[str, Any]] = {}
    for sn in subnets:
        net = networks.setdefault(sn.network_id, {
            "id": sn.network_id, "name": sn.name, "description": "", "status": "ACTIVE",
            "admin_state_up": True, "shared": True, "router:external": False,
            "subnets": [], "mtu": 1500, "tags": [], "tenant_id": "", "project_id": "",
            "availability_zones": [], "revision_number": 0,
            "created_at": _EPOCH, "updated_at": _EPOCH,
        })
        net["subnets"].append(sn.id)
    return list(networks.values())


def _vip_ports(session: Session, who: Caller, port_id: str | None = None) -> list[Any]:
    """The VIP ports (the VIP's and each additional VIP's) of the load balancers the
    caller may see, as rows; only `port_id`'s if given."""
    lb = m.LoadBalancer

    def of(vip: Any) -> Select[Any]:
        query = (select(vip.port_id, vip.network_id, vip.subnet_id, vip.ip_address,
                        lb.id.label("lb_id"), lb.project_id, lb.created_at, lb.updated_at)
                 .join(lb, lb.id == vip.load_balancer_id)
                 .where(lb.provisioning_status != C.DELETED))
        if port_id is not None:
            query = query.where(vip.port_id == port_id)
        if not who.is_admin:  # Neutron shows a port to its project and to admins
            query = query.where(lb.project_id == who.project_id)
        return query

    return list(session.execute(union_all(of(m.Vip), of(m.AdditionalVip))).all())


def _stamp(value: Any) -> str:
    return str(value.strftime("%Y-%m-%dT%H:%M:%SZ")) if value else _EPOCH


def port_view(row: Any) -> dict[str, Any]:
    """A VIP port as Octavia creates it in Neutron: named after its load balancer,
    device_id "lb-<id>", owner "Octavia", administratively down (the address is
    served by the amphorae, not by this port)."""
    return {
        "id": row.port_id, "name": f"octavia-lb-{row.lb_id}", "description": "",
        "network_id": row.network_id, "tenant_id": row.project_id,
        "project_id": row.project_id, "admin_state_up": False, "status": "DOWN",
        # No port is plugged: a stable address in OpenStack's fa:16:3e range.
        "mac_address": "fa:16:3e:" + ":".join(row.port_id[i:i + 2] for i in (0, 2, 4)),
        "fixed_ips": ([{"subnet_id": row.subnet_id, "ip_address": row.ip_address}]
                      if row.ip_address else []),
        "device_id": f"lb-{row.lb_id}", "device_owner": "Octavia",
        "security_groups": [], "allowed_address_pairs": [], "port_security_enabled": False,
        "qos_policy_id": None, "tags": [], "revision_number": 0,
        "created_at": _stamp(row.created_at),
        "updated_at": _stamp(row.updated_at or row.created_at),
    }


def _fixed_ips_match(item: dict[str, Any], wanted: list[str]) -> bool:
    """Neutron's fixed_ips=ip_address=X / fixed_ips=subnet_id=Y: a port matches when,
    for each attribute named, one of its addresses has one of the values given."""
    asked: dict[str, list[str]] = {}
    for spec in wanted:
        key, _, value = spec.partition("=")
        asked.setdefault(key, []).append(value)
    return all(any(str(ip.get(key)) in values for ip in item["fixed_ips"])
               for key, values in asked.items())


def _matches(item: dict[str, Any], key: str, wanted: list[str]) -> bool:
    if key == "fixed_ips":
        return _fixed_ips_match(item, wanted)
    value = item.get(key)
    if isinstance(value, bool):
        return str(value).lower() in [w.lower() for w in wanted]
    if isinstance(value, list):
        return any(w in [str(v) for v in value] for w in wanted)
    return str(value) in wanted if value is not None else False


def _filtered(request: Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    params = request.query_params
    for key in set(params.keys()) - _RESERVED:
        wanted = params.getlist(key)
        items = [i for i in items if _matches(i, key, wanted)]
    return [_fields(i, params.getlist("fields")) for i in items]


def _fields(item: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k in fields} if fields else item


@discovery.get("/")
def versions(request: Request, svc: Services = Depends(services)) -> dict[str, Any]:
    base = (svc.cfg.api.api_base_uri or str(request.base_url)).rstrip("/")
    return {"versions": [{"id": "v2.0", "status": "CURRENT",
                          "links": [{"href": f"{base}/networking/v2.0/", "rel": "self"}]}]}


@router.get("/subnets")
def list_subnets(request: Request, svc: Services = Depends(services)) -> dict[str, Any]:
    return {"subnets": _filtered(request, [subnet_view(sn) for sn in svc.cfg.network.subnets])}


@router.get("/subnets/{subnet_id}")
def show_subnet(subnet_id: str, request: Request,
                svc: Services = Depends(services)) -> dict[str, Any]:
    subnet = svc.cfg.subnet(subnet_id)
    if subnet is None:
        raise errors.NotFound("Subnet", subnet_id)
    return {"subnet": _fields(subnet_view(subnet), request.query_params.getlist("fields"))}


@router.get("/networks")
def list_networks(request: Request, svc: Services = Depends(services)) -> dict[str, Any]:
    return {"networks": _filtered(request, network_views(svc.cfg.network.subnets))}


@router.get("/networks/{network_id}")
def show_network(network_id: str, request: Request,
                 svc: Services = Depends(services)) -> dict[str, Any]:
    for net in network_views(svc.cfg.network.subnets):
        if net["id"] == network_id:
            return {"network": _fields(net, request.query_params.getlist("fields"))}
    raise errors.NotFound("Network", network_id)


@router.get("/ports")
def list_ports(request: Request, svc: Services = Depends(services),
               who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        rows = _vip_ports(session, who)
    return {"ports": _filtered(request, [port_view(row) for row in rows])}


@router.get("/ports/{port_id}")
def show_port(port_id: str, request: Request, svc: Services = Depends(services),
              who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        rows = _vip_ports(session, who, port_id)
    if not rows:
        raise errors.NotFound("Port", port_id)
    return {"port": _fields(port_view(rows[0]), request.query_params.getlist("fields"))}


@router.get("/qos/policies")
def list_qos_policies() -> dict[str, Any]:
    return {"policies": []}


@router.get("/security-groups")
def list_security_groups() -> dict[str, Any]:
    return {"security_groups": []}
