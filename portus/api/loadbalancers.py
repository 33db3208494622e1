"""/v2/lbaas/loadbalancers: create (single or fully populated), read, update, delete, status."""
from __future__ import annotations

import ipaddress
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portus.api import additional_vips, builders, collections, errors, schemas as s, views
from portus.api import l7build
from portus.api import lb_rows
from portus.api import provider_support, quota
from portus.api.deps import Caller, Services, caller, project_for_create, services, write
from portus.common import constants as C
from portus.db import ipam, models as m, status

router = APIRouter()
NAME = "Load Balancer"


def get_lb(session: Session, lb_id: str, who: Caller, options: Any = ()) -> m.LoadBalancer:
    """The load balancer, or 404. Only existence: the caller authorizes (another
    project's load balancer is then 403, as in Octavia). `options`: loader options."""
    lb = session.get(m.LoadBalancer, lb_id, options=options)
    if lb is None or lb.provisioning_status == C.DELETED:
        raise errors.NotFound(NAME, lb_id)
    return lb


def _serialize_rows(session: Session, rows: list[Any]) -> list[dict[str, Any]]:
    return lb_rows.serialize(session.connection(), rows)


LIST = collections.ListSpec(
    m.LoadBalancer, "loadbalancers",
    ("id", "name", "description", "project_id", "tenant_id", "admin_state_up", "provider",
     "provisioning_status", "operating_status", "flavor_id", "availability_zone", "created_at",
     "updated_at"),
    _serialize_rows, columns=lb_rows.page_columns,
    derived={  # Octavia: vip_address -> vip.ip_address (a join); no QoS or SGs here
        "vip_address": collections.related(m.LoadBalancer.id, m.Vip.ip_address,
                                           m.Vip.load_balancer_id),
        "vip_subnet_id": collections.related(m.LoadBalancer.id, m.Vip.subnet_id,
                                             m.Vip.load_balancer_id),
        "vip_network_id": collections.related(m.LoadBalancer.id, m.Vip.network_id,
                                              m.Vip.load_balancer_id),
        "vip_port_id": collections.related(m.LoadBalancer.id, m.Vip.port_id,
                                           m.Vip.load_balancer_id),
        "vip_qos_policy_id": collections.constant(None),
        "vip_sg_ids": collections.constant([]),
        "vip_vnic_type": collections.constant("normal"),
        "listeners": collections.related(m.LoadBalancer.id, m.Listener.id,
                                         m.Listener.load_balancer_id, sortable=False),
        "pools": collections.related(m.LoadBalancer.id, m.Pool.id, m.Pool.load_balancer_id,
                                     sortable=False)})


@router.get("/loadbalancers")
def list_loadbalancers(request: Request, svc: Services = Depends(services),
                       who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        project = who.list_scope("loadbalancer", request.query_params)
        query = collections.base_query(m.LoadBalancer, project, False)
        return collections.list_response(request, session, LIST, query,
                                         svc.cfg.api.pagination_max_limit)


def refuse_unknown_network_objects(req: s.LoadBalancerPOST | s.LoadBalancerPUT) -> None:
    """Security groups and QoS policies belong to a networking service; the Linux-bridge
    network of one host has none, so any id names a missing one (Octavia: 400)."""
    if req.vip_qos_policy_id is not None:
        raise errors.InvalidField("vip_qos_policy_id", req.vip_qos_policy_id,
                                  "QoS policy not found: this deployment's network has no "
                                  "QoS policies.")
    if req.vip_sg_ids:
        raise errors.InvalidField("vip_sg_ids", req.vip_sg_ids,
                                  f"Security group {req.vip_sg_ids[0]} not found: this "
                                  f"deployment's network has no security groups; use "
                                  f"listener allowed_cidrs.")


@router.post("/loadbalancers", status_code=201)
def create_loadbalancer(body: s.LoadBalancerCreate, svc: Services = Depends(services),
                        who: Caller = Depends(caller)) -> dict[str, Any]:
    req = body.loadbalancer
    project_id = project_for_create(who, req.project_id, req.tenant_id)
    who.authorize("loadbalancer:post", project_id)
    refuse_unknown_network_objects(req)
    subnet = _vip_subnet(svc, req)
    additional_vips.validate(svc.cfg, req, subnet)
    lb_id, body_out = _create(svc, req, project_id, subnet)
    svc.notify(lb_id)
    return {"loadbalancer": body_out}


def _create(svc: Services, req: s.LoadBalancerPOST, project_id: str,
            subnet: Any) -> tuple[str, dict[str, Any]]:
    with write(svc) as session:
        placement = _placement(svc, session, req, subnet)
        quota.lock(session, svc.cfg, project_id)
        lb_id = m.new_id()
        address = additional_vips.allocate(session, subnet, ipam.OWNER_VIP, lb_id,
                                           req.vip_address)
        lb = m.LoadBalancer(
            id=lb_id, name=req.name, description=req.description, enabled=req.admin_state_up,
            project_id=project_id, tag_rows=[m.Tag(tag=t) for t in req.tags or []],
            provider=placement.provider,
            topology=placement.flavor.get("loadbalancer_topology",
                                          svc.cfg.controller.loadbalancer_topology),
            flavor_id=req.flavor_id, availability_zone=req.availability_zone,
            provisioning_status=C.PENDING_CREATE,
            operating_status=C.OFFLINE, desired_generation=1, applied_generation=0,
            listeners=[], pools=[], additional_vips=[])  # new: no lazy loads of empty lists
        lb.vip = m.Vip(ip_address=address, subnet_id=subnet.id, network_id=subnet.network_id,
                       port_id=m.new_id())
        session.add(lb)
        additional_vips.attach(svc.cfg, session, lb, req)
        session.flush()
        listeners, pools = _build_graph(svc, session, req, lb, project_id)
        quota.enforce(session, svc.cfg, project_id, quota.kinds_in_graph(lb))
        session.flush()
        body_out = views.loadbalancer(lb)
        if req.listeners or req.pools:
            # As Octavia, the whole graph in full (LoadBalancerFullResponse).
            body_out["listeners"] = [views.listener_in_graph(li) for li in listeners]
            body_out["pools"] = [views.pool_in_graph(p, [li.id for li in listeners
                                                         if li.default_pool_id == p.id])
                                 for p in pools]
    return lb.id, body_out


def _placement(svc: Services, session: Session, req: s.LoadBalancerPOST,
               subnet: Any) -> provider_support.Placement:
    """Provider, flavor and availability zone of the new load balancer (400/501)."""
    placement = provider_support.resolve(session, svc.cfg, req.provider, req.flavor_id,
                                         req.availability_zone)
    allowed = placement.availability_zone.get("valid_vip_networks")
    if allowed and subnet.network_id not in allowed:
        raise errors.BadRequest("Validation failure: Supplied VIP network_id is not allowed "
                                "by the configuration of this deployment.")
    return placement


def _vip_subnet(svc: Services, req: s.LoadBalancerPOST) -> Any:
    if req.vip_port_id is not None:
        raise errors.InvalidField("vip_port_id", req.vip_port_id,
                                  "Ports are not managed by this deployment; use vip_subnet_id.")
    if req.vip_subnet_id is not None:
        subnet = svc.cfg.subnet(req.vip_subnet_id)
        if subnet is None:
            raise errors.InvalidField("vip_subnet_id", req.vip_subnet_id, "Subnet not found.")
        if req.vip_network_id is not None and req.vip_network_id != subnet.network_id:
            raise errors.InvalidField("vip_network_id", req.vip_network_id,
                                      "The subnet is not on this network.")
        if req.vip_address is not None and not _contains(subnet, req.vip_address):
            raise errors.InvalidField("vip_address", req.vip_address,
                                      f"The address is not in subnet {subnet.id} ({subnet.cidr}).")
        return subnet
    if req.vip_network_id is not None:
        on_network = [sn for sn in svc.cfg.network.subnets if sn.network_id == req.vip_network_id]
        if not on_network:
            raise errors.InvalidField("vip_network_id", req.vip_network_id, "Network not found.")
        for subnet in on_network:
            if req.vip_address is None or _contains(subnet, req.vip_address):
                return subnet
        raise errors.InvalidField("vip_address", req.vip_address,
                                  f"The address is in no subnet of network {req.vip_network_id}.")
    raise errors.ValidationFailure("VIP must contain one of: vip_port_id, vip_network_id, "
                                   "vip_subnet_id.")


def _contains(subnet: Any, address: str) -> bool:
    return ipaddress.ip_address(address) in subnet.network


def _build_graph(svc: Services, session: Session, req: s.LoadBalancerPOST, lb: m.LoadBalancer,
                 project_id: str) -> tuple[list[m.Listener], list[m.Pool]]:
    """The fully populated create: pools by name, listeners with default pools."""
    pools_by_name: dict[str, m.Pool] = {}
    pools: list[m.Pool] = []
    for i, pool_body in enumerate(req.pools or []):
        if not pool_body.name:
            raise errors.InvalidField(f"loadbalancer.pools.{i}.name", None,
                                      "Pools in a fully populated load balancer need a name.")
        if pool_body.name in pools_by_name:
            raise errors.InvalidField(f"loadbalancer.pools.{i}.name", pool_body.name,
                                      "Pool names must be unique.")
        pool = builders.new_pool(svc.cfg, session, pool_body, lb, project_id, svc.certs,
                                 f"loadbalancer.pools.{i}")
        pools_by_name[pool_body.name] = pool
        pools.append(pool)
    listeners: list[m.Listener] = []
    ports: set[tuple[str, int]] = set()
    for i, lbody in enumerate(req.listeners or []):
        key = (C.l4_family(lbody.protocol), lbody.protocol_port)
        if key in ports:
            raise errors.Conflict(f"Another Listener on this Load Balancer is already using "
                                  f"protocol_port {lbody.protocol_port}")
        ports.add(key)
        if lbody.default_pool_id is not None:
            raise errors.InvalidField(f"loadbalancer.listeners.{i}.default_pool_id",
                                      lbody.default_pool_id,
                                      "Use default_pool in a fully populated load balancer.")
        listener = builders.new_listener(svc.cfg, session, lbody, lb, project_id, svc.certs,
                                         f"loadbalancer.listeners.{i}.")
        if lbody.default_pool is not None:
            pool = _graph_pool(svc, session, lbody.default_pool, pools_by_name, lb, project_id, i)
            if pool not in pools:
                pools.append(pool)
            builders.attach_default_pool(listener, pool)
        for j, pbody in enumerate(lbody.l7policies or []):
            _graph_l7policy(svc, session, pbody, listener, pools_by_name, pools, lb, project_id,
                            f"loadbalancer.listeners.{i}.l7policies.{j}.")
        listeners.append(listener)
    return listeners, pools


def _graph_l7policy(svc: Services, session: Session, body: s.L7PolicySingle,
                    listener: m.Listener, pools_by_name: dict[str, m.Pool], pools: list[m.Pool],
                    lb: m.LoadBalancer, project_id: str, path: str) -> None:
    # Pools do not exist before this request, so a redirect pool is given by name.
    if body.redirect_pool_id is not None:
        raise errors.InvalidField(f"{path}redirect_pool_id", body.redirect_pool_id,
                                  "Use redirect_pool in a fully populated load balancer.")
    redirect = None
    if body.redirect_pool is not None:
        redirect = _graph_pool(svc, session, body.redirect_pool, pools_by_name, lb, project_id,
                               0, f"{path}redirect_pool")
        if redirect not in pools:
            pools.append(redirect)
    l7build.new_policy(session, body, listener, project_id, redirect, path)


def _graph_pool(svc: Services, session: Session, body: s.PoolSingle,
                pools_by_name: dict[str, m.Pool], lb: m.LoadBalancer, project_id: str,
                index: int, path: str | None = None) -> m.Pool:
    # A name alone refers to a pool in loadbalancer.pools; anything more defines one.
    path = path or f"loadbalancer.listeners.{index}.default_pool"
    if body.is_reference:
        if not body.name:
            raise errors.InvalidField(f"{path}.name", None, "Mandatory field missing.")
        if body.name not in pools_by_name:
            raise errors.InvalidField(f"{path}.name", body.name,
                                      "No pool of this name is defined in loadbalancer.pools.")
        return pools_by_name[body.name]
    if body.name and body.name in pools_by_name:
        raise errors.InvalidField(f"{path}.name", body.name, "Pool names must be unique.")
    pool = builders.new_pool(svc.cfg, session, body, lb, project_id, svc.certs, path)
    if body.name:
        pools_by_name[body.name] = pool
    return pool


@router.get("/loadbalancers/{lb_id}")
def show_loadbalancer(lb_id: str, request: Request, svc: Services = Depends(services),
                      who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        conn = session.connection()
        row = lb_rows.one_row(conn, lb_id)
        if row is None or row.provisioning_status == C.DELETED:
            raise errors.NotFound(NAME, lb_id)
        who.authorize("loadbalancer:get_one", row.project_id)
        body = lb_rows.serialize(conn, [row])[0]
    return {"loadbalancer": views.select_fields(body, request.query_params.getlist("fields"))}


@router.put("/loadbalancers/{lb_id}")
def update_loadbalancer(lb_id: str, body: s.LoadBalancerUpdate, svc: Services = Depends(services),
                        who: Caller = Depends(caller)) -> dict[str, Any]:
    req = body.loadbalancer
    refuse_unknown_network_objects(req)
    with write(svc) as session:
        who.authorize("loadbalancer:put", get_lb(session, lb_id, who).project_id)
        # An update also retries a load balancer that went to ERROR.
        status.lock_lb(session, lb_id, allowed=(C.ACTIVE, C.ERROR))
        lb = get_lb(session, lb_id, who)
        session.refresh(lb)
        for field in req.model_fields_set:
            value = getattr(req, field)
            if field == "admin_state_up":
                lb.enabled = True if value is None else value
            elif field == "tags":
                lb.tags = value or []
            elif field in ("name", "description"):
                setattr(lb, field, value)
        session.flush()
        listener_ids, pool_ids = lb_rows.child_ids(session.connection(), [lb.id])
        out = views.loadbalancer(lb, listener_ids[lb.id], pool_ids[lb.id])
    svc.notify(lb_id)
    return {"loadbalancer": out}


@router.delete("/loadbalancers/{lb_id}", status_code=204)
def delete_loadbalancer(lb_id: str, request: Request, svc: Services = Depends(services),
                        who: Caller = Depends(caller)) -> Response:
    cascade = request.query_params.get("cascade", "false").lower() == "true"
    with write(svc) as session:
        who.authorize("loadbalancer:delete", get_lb(session, lb_id, who).project_id)
        if not cascade:
            children = session.execute(
                select(func.count()).select_from(m.Listener)
                .where(m.Listener.load_balancer_id == lb_id)).scalar_one()
            children += session.execute(
                select(func.count()).select_from(m.Pool)
                .where(m.Pool.load_balancer_id == lb_id)).scalar_one()
            if children:
                raise errors.ValidationFailure(f"Cannot delete Load Balancer {lb_id} - it "
                                               f"has children")
        status.lock_lb(session, lb_id, new_status=C.PENDING_DELETE, allowed=(C.ACTIVE, C.ERROR))
    svc.notify(lb_id)
    return Response(status_code=204)


@router.get("/loadbalancers/{lb_id}/status")
@router.get("/loadbalancers/{lb_id}/statuses")
def show_status(lb_id: str, svc: Services = Depends(services),
                who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        conn = session.connection()
        lb = lb_rows.lb_status_row(conn, lb_id)
        if lb is None or lb.provisioning_status == C.DELETED:
            raise errors.NotFound(NAME, lb_id)
        who.authorize("loadbalancer:get_status", lb.project_id)
        return lb_rows.status_tree(conn, lb)


@router.get("/loadbalancers/{lb_id}/stats")
def show_stats(lb_id: str, svc: Services = Depends(services),
               who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        who.authorize("loadbalancer:get_stats", get_lb(session, lb_id, who).project_id)
        listener_ids = select(m.Listener.id).where(m.Listener.load_balancer_id == lb_id)
        return {"stats": sum_stats(session, m.ListenerStatistics.listener_id.in_(listener_ids))}


def sum_stats(session: Session, where: Any) -> dict[str, int]:
    st = m.ListenerStatistics
    row = session.execute(select(
        func.coalesce(func.sum(st.bytes_in), 0), func.coalesce(func.sum(st.bytes_out), 0),
        func.coalesce(func.sum(st.active_connections), 0),
        func.coalesce(func.sum(st.total_connections), 0),
        func.coalesce(func.sum(st.request_errors), 0)).where(where)).one()
    keys = ("bytes_in", "bytes_out", "active_connections", "total_connections", "request_errors")
    return {k: int(v) for k, v in zip(keys, row)}
