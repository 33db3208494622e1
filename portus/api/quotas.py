"""/v2/lbaas/quotas: per-project limits (202 on PUT and DELETE, as Octavia's code)."""
from __future__ import annotations

from typing import Any, Mapping

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import func, select

from portus.api import collections, errors, quota, schemas_admin as sa
from portus.api.deps import Caller, Services, caller, services, write
from portus.db import models as m

router = APIRouter()


def _body(limits: Mapping[str, int | None], project_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {k.api: limits[k.column] for k in quota.KINDS}
    # The deprecated spellings are echoed too, for clients that still read them.
    body.update({k.alias: limits[k.column] for k in quota.KINDS if k.alias})
    if project_id is not None:
        # As every Octavia body with a project_id (BaseMeta), tenant_id echoes it.
        body["project_id"] = body["tenant_id"] = project_id
    return body


def _list_spec(cfg: Any) -> collections.ListSpec:
    """The list with the configuration's defaults: every project shows its effective
    limits (a stored null is the default, as Octavia shows -1), and the limits filter
    and sort as shown (SQL COALESCE with the default)."""
    defaults = quota.defaults(cfg)

    def serialize(_session: Any, rows: list[m.Quota]) -> list[dict[str, Any]]:
        return [_body(quota.effective(cfg, row), row.project_id) for row in rows]

    derived: dict[str, collections.Derived] = {}
    for kind in quota.KINDS:
        shown = collections.computed(func.coalesce(getattr(m.Quota, kind.column),
                                                   defaults[kind.column]), integer=True)
        derived[kind.api] = shown
        if kind.alias:
            derived[kind.alias] = shown
    return collections.ListSpec(m.Quota, "quotas", ("project_id", "tenant_id"), serialize,
                                key="project_id", default_sort=("project_id",),
                                derived=derived)


@router.get("/quotas")
def list_quotas(request: Request, svc: Services = Depends(services),
                who: Caller = Depends(caller)) -> dict[str, Any]:
    query = select(m.Quota)
    scope = who.list_scope("quota", request.query_params)
    if scope is not None:
        query = query.where(m.Quota.project_id == scope)
    with svc.db.read() as session:
        return collections.list_response(request, session, _list_spec(svc.cfg), query,
                                         svc.cfg.api.pagination_max_limit)


@router.get("/quotas/defaults")
def show_defaults(svc: Services = Depends(services),
                  who: Caller = Depends(caller)) -> dict[str, Any]:
    # Octavia's api-ref path; Octavia's code reaches it as GET /quotas/{project_id} of
    # a project "defaults" that has no row: the defaults, with that project_id.
    who.authorize("quota:get_defaults", who.project_id)
    return {"quota": _body(dict(quota.defaults(svc.cfg)), "defaults")}


@router.get("/quotas/{project_id}")
def show_quota(project_id: str, svc: Services = Depends(services),
               who: Caller = Depends(caller)) -> dict[str, Any]:
    who.authorize("quota:get_one", project_id)
    with svc.db.read() as session:
        limits = quota.effective(svc.cfg, session.get(m.Quota, project_id))
    return {"quota": _body(dict(limits), project_id)}


@router.get("/quotas/{project_id}/default")
def show_project_defaults(project_id: str, svc: Services = Depends(services),
                          who: Caller = Depends(caller)) -> dict[str, Any]:
    who.authorize("quota:get_defaults", project_id)
    return {"quota": _body(dict(quota.defaults(svc.cfg)), project_id)}


@router.put("/quotas/{project_id}", status_code=202)
def update_quota(project_id: str, body: sa.QuotaUpdate, svc: Services = Depends(services),
                 who: Caller = Depends(caller)) -> dict[str, Any]:
    who.authorize("quota:put", project_id)
    req = body.quota
    given = req.model_fields_set
    with write(svc) as session:
        row = session.get(m.Quota, project_id)
        if row is None:
            row = m.Quota(project_id=project_id)
            session.add(row)
        for kind in quota.KINDS:
            # The current name wins over the deprecated alias when both are given.
            if kind.api in given:
                setattr(row, kind.column, getattr(req, kind.api))
            elif kind.alias is not None and kind.alias in given:
                setattr(row, kind.column, getattr(req, kind.alias))
        session.flush()
        limits = quota.effective(svc.cfg, row)
    return {"quota": _body(dict(limits), project_id)}


@router.delete("/quotas/{project_id}", status_code=202)
def reset_quota(project_id: str, svc: Services = Depends(services),
                who: Caller = Depends(caller)) -> Response:
    who.authorize("quota:delete", project_id)
    with write(svc) as session:
        row = session.get(m.Quota, project_id)
        if row is None:
            raise errors.NotFound("Quotas", project_id)
        # Back to the defaults. The row stays (it is the lock creates take).
        for kind in quota.KINDS:
            setattr(row, kind.column, None)
    return Response(status_code=202)
