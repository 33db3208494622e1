"""Load balancer reads on plain rows: list pages, show and the status tree.

These reads cover up to a page of 1,000 load balancers or a whole tree, so they run
Core statements on the session's connection and never build ORM objects, which cost
several times more to load (and leave more garbage for the collector) than rows.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, exists, select

from portus.api import views
from portus.db import models as m

_LB, _VIP = m.LoadBalancer.__table__, m.Vip.__table__
_LISTENER, _POOL, _MEMBER = m.Listener.__table__, m.Pool.__table__, m.Member.__table__
_POLICY, _RULE, _HM = m.L7Policy.__table__, m.L7Rule.__table__, m.HealthMonitor.__table__
_TAG, _EXTRA_VIP = m.Tag.__table__, m.AdditionalVip.__table__

_VIP_COLUMNS = ("ip_address", "port_id", "subnet_id", "network_id")


class _Vip(NamedTuple):
    ip_address: str | None
    port_id: str
    subnet_id: str
    network_id: str


# What views.loadbalancer reads (not the worker's generations and lease).
_SHOWN = [_LB.c[c] for c in ("id", "name", "description", "provisioning_status",
                             "operating_status", "enabled", "project_id", "created_at",
                             "updated_at", "provider", "flavor_id", "availability_zone",
                             "status_reason")]


def page_columns(query: Any) -> Any:
    """The load balancer and its VIP in one statement of plain columns."""
    return (query.with_only_columns(*_SHOWN,
                                    *(_VIP.c[c].label(f"vip_{c}") for c in _VIP_COLUMNS))
            .select_from(_LB.outerjoin(_VIP)))


_ONE = page_columns(select(_LB).where(_LB.c.id == bindparam("lb_id")))


def one_row(conn: Connection, lb_id: str) -> Any:
    """The row of page_columns() of one load balancer; None if there is none."""
    return conn.execute(_ONE, {"lb_id": lb_id}).first()


class _Page:
    """A page row as views.loadbalancer reads it: its columns as plain attributes (an
    instance dict, far cheaper to read than a Row's), then the VIP, the tags and the
    additional VIPs."""
    id: str

    def __init__(self, columns: dict[str, Any]) -> None:
        self.__dict__ = columns
        self.vip = (_Vip(columns["vip_ip_address"], columns["vip_port_id"],
                         columns["vip_subnet_id"], columns["vip_network_id"])
                    if columns["vip_subnet_id"] is not None else None)
        self.tags: list[str] = []
        self.additional_vips: list[Any] = []


# The page's children, by a list of load balancer ids: prepared once, so a page of
# 1,000 ids is bound without coercing each value again.
_IDS: Any = bindparam("ids", expanding=True)
_TAGS = (select(_TAG.c.resource_id, _TAG.c.tag).where(_TAG.c.resource_id.in_(_IDS))
         .order_by(_TAG.c.tag))
_EXTRA_VIPS = select(_EXTRA_VIP).where(_EXTRA_VIP.c.load_balancer_id.in_(_IDS))
_CHILDREN = tuple(select(t.c.id, t.c.load_balancer_id).where(t.c.load_balancer_id.in_(_IDS))
                  for t in (_LISTENER, _POOL))


def serialize(conn: Connection, rows: list[Any]) -> list[dict[str, Any]]:
    """Bodies of the rows of page_columns(), in order: four more statements in all."""
    if not rows:
        return []
    keys = rows[0]._fields
    lbs = [_Page(dict(zip(keys, row))) for row in rows]
    by_id = {lb.id: lb for lb in lbs}
    ids = {"ids": list(by_id)}
    for resource_id, value in conn.execute(_TAGS, ids).all():
        by_id[resource_id].tags.append(value)
    for av in conn.execute(_EXTRA_VIPS, ids).all():
        by_id[av.load_balancer_id].additional_vips.append(av)
    listeners, pools = child_ids(conn, ids["ids"])
    return [views.loadbalancer(lb, listeners[lb.id], pools[lb.id])  # type: ignore[arg-type]
            for lb in lbs]


def child_ids(conn: Connection, lb_ids: list[str]
              ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Listener ids and pool ids per load balancer."""
    listeners: dict[str, list[str]] = {i: [] for i in lb_ids}
    pools: dict[str, list[str]] = {i: [] for i in lb_ids}
    for statement, by_lb in zip(_CHILDREN, (listeners, pools)):
        for child_id, lb_id in conn.execute(statement, {"ids": lb_ids}).all():
            by_lb[lb_id].append(child_id)
    return listeners, pools


# The status tree, one prepared statement per level, each bound with the load
# balancer's id only (no statement is built, nor its cache key computed, per request).
_LB_ID: Any = bindparam("lb_id")
_LB_STATUS = select(_LB.c.id, _LB.c.name, _LB.c.provisioning_status, _LB.c.operating_status,
                    _LB.c.project_id).where(_LB.c.id == _LB_ID)
_LISTENERS = select(_LISTENER.c.id, _LISTENER.c.name, _LISTENER.c.provisioning_status,
                    _LISTENER.c.operating_status, _LISTENER.c.default_pool_id,
                    _LISTENER.c.created_at).where(_LISTENER.c.load_balancer_id == _LB_ID)
_POOLS = (select(_POOL.c.id, _POOL.c.name, _POOL.c.provisioning_status, _POOL.c.operating_status,
                 _HM.c.id.label("hm_id"), _HM.c.name.label("hm_name"),
                 _HM.c.type.label("hm_type"),
                 _HM.c.provisioning_status.label("hm_provisioning_status"),
                 _HM.c.enabled.label("hm_enabled"))
          .select_from(_POOL.outerjoin(_HM, _HM.c.pool_id == _POOL.c.id))
          .where(_POOL.c.load_balancer_id == _LB_ID))
_MEMBERS = (select(_MEMBER.c.id, _MEMBER.c.name, _MEMBER.c.provisioning_status,
                   _MEMBER.c.operating_status, _MEMBER.c.address, _MEMBER.c.protocol_port,
                   _MEMBER.c.pool_id)
            .join(_POOL, _POOL.c.id == _MEMBER.c.pool_id).where(_POOL.c.load_balancer_id == _LB_ID))
# Per listener, in position order, the pools its enabled REDIRECT_TO_POOL policies with
# rules send to: with its default pool, Octavia's Listener.pools.
_REDIRECTS = (select(_POLICY.c.listener_id, _POLICY.c.redirect_pool_id)
              .join(_LISTENER, _LISTENER.c.id == _POLICY.c.listener_id)
              .where(_LISTENER.c.load_balancer_id == _LB_ID, _POLICY.c.enabled,
                     _POLICY.c.action == "REDIRECT_TO_POOL",
                     _POLICY.c.redirect_pool_id.is_not(None),
                     exists().where(_RULE.c.l7policy_id == _POLICY.c.id))
              .order_by(_POLICY.c.position))


def lb_status_row(conn: Connection, lb_id: str) -> Any:
    """What the status tree shows of the load balancer, and its project; None if missing."""
    return conn.execute(_LB_STATUS, {"lb_id": lb_id}).first()


def _status(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name or "", "provisioning_status": row.provisioning_status,
            "operating_status": row.operating_status}


def status_tree(conn: Connection, lb: Any) -> dict[str, Any]:
    """Octavia's status tree: listeners, the pools each uses, their monitors and
    members."""
    key = {"lb_id": lb.id}
    listeners = sorted(conn.execute(_LISTENERS, key).all(), key=lambda li: li.created_at)
    pools = {p.id: p for p in conn.execute(_POOLS, key).all()}
    members: dict[str, list[dict[str, Any]]] = {pool_id: [] for pool_id in pools}
    for mb in conn.execute(_MEMBERS, key).all():
        members[mb.pool_id].append(dict(_status(mb), address=mb.address,
                                        protocol_port=mb.protocol_port))
    used_by: dict[str, list[str]] = {
        li.id: [li.default_pool_id] if li.default_pool_id is not None else []
        for li in listeners}
    for listener_id, pool_id in conn.execute(_REDIRECTS, key).all():
        if pool_id not in used_by[listener_id]:
            used_by[listener_id].append(pool_id)

    def pool_status(pool_id: str) -> dict[str, Any]:
        p = pools[pool_id]
        body = _status(p)
        if p.hm_id is not None:
            body["health_monitor"] = {"id": p.hm_id, "name": p.hm_name or "",
                                      "provisioning_status": p.hm_provisioning_status,
                                      "operating_status": views.applied_operating_status(
                                          p.hm_enabled, p.hm_provisioning_status),
                                      "type": p.hm_type}
        body["members"] = members[pool_id]
        return body

    out = [dict(_status(li), pools=[pool_status(p) for p in used_by[li.id]]) for li in listeners]
    return {"statuses": {"loadbalancer": dict(_status(lb), listeners=out)}}
