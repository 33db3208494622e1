"""/v2/lbaas/quotas: per-project limits (202 on PUT and DELETE, as Octavia's code)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select

from portus.api import collections, errors, quota, schemas_admin as sa
from portus.api.deps import Caller, Services, caller, services, write
from portus.db import models as m

router = APIRouter()


def _body(limits: dict[str, int | None], project_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {k.api: limits[k.column] for k in quota.KINDS}
    # The deprecated spellings are echoed too, for clients that still read them.
    body.update({k.alias: limits[k.column] for k in quota.KINDS if k.alias})
    if project_id is not None:
        body["project_id"] = project_id
    return body


def _row_view(row: m.Quota) -> dict[str, Any]:
    # The list shows what is stored: null where the project uses the default.
    return _body({k.column: getattr(row, k.column) for k in quota.KINDS}, row.project_id)


LIST = collections.ListSpec(
    m.Quota, "quotas", ("project_id",),
    lambda _session, rows: [_row_view(r) for r in rows],
    key="project_id", default_sort=("project_id",))


@router.get("/quotas")
def list_quotas(request: Request, svc: Services = Depends(services),
                who: Caller = Depends(caller)) -> dict[str, Any]:
    query = select(m.Quota)
    scope = who.list_scope("quota", request.query_params)
    if scope is not None:
        query = query.where(m.Quota.project_id == scope)
    with svc.db.read() as session:
        return collections.list_response(request, session, LIST, query,
                                         svc.cfg.api.pagination_max_limit)


@router.get("/quotas/defaults")
def show_defaults(svc: Services = Depends(services),
                  who: Caller = Depends(caller)) -> dict[str, Any]:
    # Octavia's api-ref path; Octavia's code reaches it as project "defaults" (no row).
    who.authorize("quota:get_defaults", who.project_id)
    return {"quota": _body(dict(quota.defaults(svc.cfg)), None)}


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
