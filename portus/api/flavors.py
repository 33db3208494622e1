"""/v2/lbaas/flavors: named, operator-defined load balancer options (GET for readers,
writes for administrators)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from portus.api import collections, errors, schemas_admin as sa, views
from portus.api.deps import Caller, Services, caller, services, write
from portus.common import constants as C
from portus.db import models as m

router = APIRouter()
NAME = "Flavor"
NIL_UUID = "00000000-0000-0000-0000-000000000000"


def view(flavor: m.Flavor) -> dict[str, Any]:
    return {"id": flavor.id, "name": flavor.name, "description": flavor.description or "",
            "enabled": flavor.enabled, "flavor_profile_id": flavor.flavor_profile_id}


def get_flavor(session: Session, flavor_id: str) -> m.Flavor:
    flavor = None if flavor_id == NIL_UUID else session.get(m.Flavor, flavor_id)
    if flavor is None:
        raise errors.NotFound(NAME, flavor_id)
    return flavor


def _name_taken(session: Session, name: str, other_than: str | None = None) -> None:
    query = select(m.Flavor.id).where(m.Flavor.name == name)
    if other_than is not None:
        query = query.where(m.Flavor.id != other_than)
    if session.execute(query.limit(1)).first() is not None:
        raise errors.Conflict(f"A flavor of {name} already exists.")


LIST = collections.ListSpec(
    m.Flavor, "flavors", ("id", "name", "description", "enabled", "flavor_profile_id"),
    lambda _session, rows: [view(r) for r in rows], default_sort=("id",))


@router.get("/flavors")
def list_flavors(request: Request, svc: Services = Depends(services),
                 who: Caller = Depends(caller)) -> dict[str, Any]:
    who.authorize("flavor:get_all", who.project_id)
    with svc.db.read() as session:
        return collections.list_response(request, session, LIST, select(m.Flavor),
                                         svc.cfg.api.pagination_max_limit)


@router.post("/flavors", status_code=201)
def create_flavor(body: sa.FlavorCreate, svc: Services = Depends(services),
                  who: Caller = Depends(caller)) -> dict[str, Any]:
    who.authorize("flavor:post", who.project_id)
    req = body.flavor
    with write(svc) as session:
        if req.flavor_profile_id == NIL_UUID or session.get(
                m.FlavorProfile, req.flavor_profile_id) is None:
            raise errors.BadRequest(f"{req.flavor_profile_id} is not a valid option for "
                                    f"flavor_profile_id")
        _name_taken(session, req.name)
        flavor = m.Flavor(id=m.new_id(), name=req.name, description=req.description,
                          enabled=req.enabled, flavor_profile_id=req.flavor_profile_id)
        session.add(flavor)
        session.flush()  # a concurrent create of the same name fails on the unique key: 409
        out = view(flavor)
    return {"flavor": out}


@router.get("/flavors/{flavor_id}")
def show_flavor(flavor_id: str, request: Request, svc: Services = Depends(services),
                who: Caller = Depends(caller)) -> dict[str, Any]:
    who.authorize("flavor:get_one", who.project_id)
    with svc.db.read() as session:
        out = view(get_flavor(session, flavor_id))
    return {"flavor": views.select_fields(out, request.query_params.getlist("fields"))}


@router.put("/flavors/{flavor_id}")
def update_flavor(flavor_id: str, body: sa.FlavorUpdate, svc: Services = Depends(services),
                  who: Caller = Depends(caller)) -> dict[str, Any]:
    who.authorize("flavor:put", who.project_id)
    req = body.flavor
    with write(svc) as session:
        flavor = get_flavor(session, flavor_id)
        for field in req.model_fields_set:
            value = getattr(req, field)
            if field == "name":
                if value is None:
                    raise errors.InvalidField("name", None, "Mandatory field cannot be null.")
                _name_taken(session, value, other_than=flavor_id)
            elif field == "enabled" and value is None:
                value = True
            setattr(flavor, field, value)
        session.flush()
        out = view(flavor)
    return {"flavor": out}


@router.delete("/flavors/{flavor_id}", status_code=204)
def delete_flavor(flavor_id: str, svc: Services = Depends(services),
                  who: Caller = Depends(caller)) -> Response:
    who.authorize("flavor:delete", who.project_id)
    with write(svc) as session:
        flavor = get_flavor(session, flavor_id)
        used = session.execute(select(m.LoadBalancer.id).where(
            m.LoadBalancer.flavor_id == flavor_id,
            m.LoadBalancer.provisioning_status != C.DELETED).limit(1)).first()
        if used is not None:
            raise errors.Conflict(f"{NAME} {flavor_id} is in use and cannot be modified.")
        session.delete(flavor)
    return Response(status_code=204)
