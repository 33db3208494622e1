"""/v2/octavia/amphorae (admin) and /v2/lbaas/loadbalancers/{id}/failover.

The API never touches an amphora: failover marks amphorae ERROR (as the health manager
does for a silent one) and moves the load balancer to PENDING_UPDATE; the
level-triggered worker then removes the failed amphorae and builds new ones.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portus.api import collections, errors
from portus.api.deps import Caller, Services, caller, services, write
from portus.api.loadbalancers import get_lb
from portus.common import constants as C
from portus.db import models as m, status

router = APIRouter()  # mounted under /v2/octavia
lb_router = APIRouter()  # mounted under the /v2/lbaas prefixes
NAME = "Amphora"
# Amphorae that serve (or are about to serve) traffic; a failover replaces these.
_LIVE = (C.AMP_BOOTING, C.AMP_ALLOCATED)


def _ts(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S") if value else None


def amphora_view(amp: m.Amphora) -> dict[str, Any]:
    # No Nova: the zone, image and compute flavor fields have no value. The VRRP fields
    # are set on the amphorae of ACTIVE_STANDBY load balancers.
    return {
        "id": amp.id,
        "loadbalancer_id": amp.load_balancer_id,
        "compute_id": amp.compute_id,
        "lb_network_ip": amp.lb_network_ip,
        "vrrp_ip": amp.vrrp_ip,
        "ha_ip": amp.ha_ip,
        "vrrp_port_id": amp.vrrp_port_id,
        "ha_port_id": amp.ha_port_id,
        "cert_expiration": _ts(amp.cert_expiration),
        "cert_busy": bool(amp.cert_busy),
        "role": amp.role,
        "status": amp.status,
        "vrrp_interface": amp.vrrp_interface,
        "vrrp_id": amp.vrrp_id,
        "vrrp_priority": amp.vrrp_priority,
        "cached_zone": None,
        "image_id": None,
        "compute_flavor": None,
        "created_at": _ts(amp.created_at),
        "updated_at": _ts(amp.updated_at),
    }


LIST = collections.ListSpec(
    m.Amphora, "amphorae",
    ("id", "loadbalancer_id", "compute_id", "lb_network_ip", "vrrp_ip", "ha_ip",
     "vrrp_port_id", "ha_port_id", "role", "status", "cert_busy", "vrrp_interface", "vrrp_id",
     "vrrp_priority", "cert_expiration", "created_at", "updated_at"),
    lambda _session, rows: [amphora_view(a) for a in rows],
    derived={"cached_zone": collections.constant(None), "image_id": collections.constant(None),
             "compute_flavor": collections.constant(None)})


def get_amphora(session: Session, amphora_id: str) -> m.Amphora:
    amp = session.get(m.Amphora, amphora_id)
    if amp is None or amp.status == C.AMP_DELETED:
        raise errors.NotFound(NAME, amphora_id)
    return amp


def _project_of(session: Session, amp: m.Amphora) -> str | None:
    if amp.load_balancer_id is None:
        return None
    return session.execute(select(m.LoadBalancer.project_id).where(
        m.LoadBalancer.id == amp.load_balancer_id)).scalar_one_or_none()


@router.get("/amphorae")
def list_amphorae(request: Request, svc: Services = Depends(services),
                  who: Caller = Depends(caller)) -> dict[str, Any]:
    who.authorize("amphora:get_all")
    with svc.db.read() as session:
        query = select(m.Amphora).where(m.Amphora.status != C.AMP_DELETED)
        return collections.list_response(request, session, LIST, query,
                                         svc.cfg.api.pagination_max_limit)


@router.get("/amphorae/{amphora_id}")
def show_amphora(amphora_id: str, request: Request, svc: Services = Depends(services),
                 who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        amp = get_amphora(session, amphora_id)
        who.authorize("amphora:get_one", _project_of(session, amp))
        body = amphora_view(amp)
    fields = request.query_params.getlist("fields")
    return {"amphora": {k: v for k, v in body.items() if k in fields} if fields else body}


@router.delete("/amphorae/{amphora_id}", status_code=204)
def delete_amphora(amphora_id: str, svc: Services = Depends(services),
                   who: Caller = Depends(caller)) -> Response:
    lb_id = None
    with write(svc) as session:
        amp = get_amphora(session, amphora_id)
        who.authorize("amphora:delete", _project_of(session, amp))
        if amp.status != C.AMP_ERROR:
            raise errors.Conflict(f"Amphora {amphora_id} is in status {amp.status}; only "
                                  f"amphorae in ERROR can be deleted.")
        amp.status = C.AMP_PENDING_DELETE
        lb_id = amp.load_balancer_id
    if lb_id is not None:
        _reconverge_quietly(svc, lb_id)
    return Response(status_code=204)


def _reconverge_quietly(svc: Services, lb_id: str) -> None:
    """Have the worker look at the load balancer (it removes ERROR/PENDING_DELETE
    amphorae before anything else). A busy load balancer is already being converged."""
    try:
        with write(svc) as session:
            status.lock_lb(session, lb_id, allowed=(C.ACTIVE, C.ERROR))
    except errors.APIError:
        pass
    svc.notify(lb_id)


@router.put("/amphorae/{amphora_id}/failover", status_code=202)
def failover_amphora(amphora_id: str, svc: Services = Depends(services),
                     who: Caller = Depends(caller)) -> Response:
    with write(svc) as session:
        amp = get_amphora(session, amphora_id)
        who.authorize("amphora:put_failover", _project_of(session, amp))
        if amp.load_balancer_id is None:
            raise errors.Conflict(f"Amphora {amphora_id} serves no load balancer.")
        lb_id = amp.load_balancer_id
        # As Octavia: an amphora failover needs the load balancer ACTIVE, whatever the
        # pending-lock mode (a converging load balancer rebuilds what it needs anyway).
        session.info[status.STRICT_LOCK] = True
        status.lock_lb(session, lb_id, allowed=(C.ACTIVE,))
        _mark_failed(session, [amp.id], "failover requested through the API")
    svc.notify(lb_id)
    return Response(status_code=202)


@router.put("/amphorae/{amphora_id}/config", status_code=202)
def configure_amphora(amphora_id: str, svc: Services = Depends(services),
                      who: Caller = Depends(caller)) -> Response:
    with write(svc) as session:
        amp = get_amphora(session, amphora_id)
        who.authorize("amphora:put_config", _project_of(session, amp))
        if amp.load_balancer_id is None:
            raise errors.Conflict(f"Amphora {amphora_id} serves no load balancer.")
        lb_id = amp.load_balancer_id
        # The worker renders and pushes the whole configuration on every convergence,
        # so a new generation is exactly "push the config again".
        status.lock_lb(session, lb_id, allowed=(C.ACTIVE, C.ERROR))
    svc.notify(lb_id)
    return Response(status_code=202)


@router.get("/amphorae/{amphora_id}/stats")
def amphora_stats(amphora_id: str, svc: Services = Depends(services),
                  who: Caller = Depends(caller)) -> dict[str, Any]:
    with svc.db.read() as session:
        amp = get_amphora(session, amphora_id)
        who.authorize("amphora:get_stats", _project_of(session, amp))
        st = m.ListenerStatistics
        rows = session.execute(
            select(st, m.Listener.load_balancer_id)
            .join(m.Listener, m.Listener.id == st.listener_id)
            .where(st.amphora_id == amphora_id).order_by(st.listener_id)).all()
        out = [{"id": amphora_id, "listener_id": row.listener_id, "loadbalancer_id": lb_id,
                "active_connections": row.active_connections, "bytes_in": row.bytes_in,
                "bytes_out": row.bytes_out, "request_errors": row.request_errors,
                "total_connections": row.total_connections} for row, lb_id in rows]
    if not out:  # as Octavia: an amphora that reported nothing yet has no stats
        raise errors.NotFound("Amphora stats for", amphora_id)
    return {"amphora_stats": out}


@lb_router.put("/loadbalancers/{lb_id}/failover", status_code=202)
def failover_loadbalancer(lb_id: str, svc: Services = Depends(services),
                          who: Caller = Depends(caller)) -> Response:
    with write(svc) as session:
        lb = get_lb(session, lb_id, who)
        who.authorize("loadbalancer:put_failover", lb.project_id)
        session.info[status.STRICT_LOCK] = True  # FAILOVERABLE_STATUSES, in every mode
        status.lock_lb(session, lb_id, allowed=(C.ACTIVE, C.ERROR))
        ids = list(session.execute(select(m.Amphora.id).where(
            m.Amphora.load_balancer_id == lb_id, m.Amphora.status.in_(_LIVE))).scalars())
        _mark_failed(session, ids, "load balancer failover requested through the API")
    svc.notify(lb_id)
    return Response(status_code=202)


def _mark_failed(session: Session, amphora_ids: list[str], reason: str) -> None:
    if amphora_ids:
        session.execute(update(m.Amphora).where(m.Amphora.id.in_(amphora_ids))
                        .values(status=C.AMP_ERROR, status_reason=reason)
                        .execution_options(synchronize_session=False))
