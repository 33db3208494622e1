"""/v2/lbaas/availabilityzones: keyed by name (GET for readers, writes for administrators)."""
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
NAME = "Availability Zone"
NIL_UUID = "00000000-0000-0000-0000-000000000000"


def view(az: m.AvailabilityZone) -> dict[str, Any]:
    return {"name": az.name, "description": az.description or "", "enabled": az.enabled,
            "availability_zone_profile_id": az.availability_zone_profile_id}


def get_az(session: Session, name: str) -> m.AvailabilityZone:
    az = None if name == NIL_UUID else session.get(m.AvailabilityZone, name)
    if az is None:
        raise errors.NotFound(NAME, name)
    return az


LIST = collections.ListSpec(
    m.AvailabilityZone, "availability_zones",
    ("name", "description", "enabled", "availability_zone_profile_id"),
    lambda _session, rows: [view(r) for r in rows], key="name", default_sort=("name",))


@router.get("/availabilityzones")
def list_azs(request: Request, svc: Services = Depends(services),
             who: Caller = Depends(caller)) -> dict[str, Any]:
    who.authorize("availability-zone:get_all", who.project_id)
    with svc.db.read() as session:
        return collections.list_response(request, session, LIST, select(m.AvailabilityZone),
                                         svc.cfg.api.pagination_max_limit)


@router.post("/availabilityzones", status_code=201)
def create_az(body: sa.AvailabilityZoneCreate, svc: Services = Depends(services),
              who: Caller = Depends(caller)) -> dict[str, Any]:
    who.authorize("availability-zone:post", who.project_id)
    req = body.availability_zone
    with write(svc) as session:
        profile_id = req.availability_zone_profile_id
        if profile_id == NIL_UUID or session.get(m.AvailabilityZoneProfile, profile_id) is None:
            raise errors.BadRequest(f"{profile_id} is not a valid option for "
                                    f"availability_zone_profile_id")
        if session.get(m.AvailabilityZone, req.name) is not None:
            raise errors.Conflict(f"A availability_zone of {req.name} already exists.")
        az = m.AvailabilityZone(name=req.name, description=req.description,
                                enabled=req.enabled, availability_zone_profile_id=profile_id)
        session.add(az)
        session.flush()
        out = view(az)
    return {"availability_zone": out}


@router.get("/availabilityzones/{name}")
def show_az(name: str, request: Request, svc: Services = Depends(services),
            who: Caller = Depends(caller)) -> dict[str, Any]:
    who.authorize("availability-zone:get_one", who.project_id)
    with svc.db.read() as session:
        out = view(get_az(session, name))
    return {"availability_zone": views.select_fields(out, request.query_params.getlist("fields"))}


@router.put("/availabilityzones/{name}")
def update_az(name: str, body: sa.AvailabilityZoneUpdate, svc: Services = Depends(services),
              who: Caller = Depends(caller)) -> dict[str, Any]:
    who.authorize("availability-zone:put", who.project_id)
    req = body.availability_zone
    with write(svc) as session:
        az = get_az(session, name)
        if "description" in req.model_fields_set:
            az.description = req.description
        if "enabled" in req.model_fields_set:
            az.enabled = True if req.enabled is None else req.enabled
        session.flush()
        out = view(az)
    return {"availability_zone": out}


@router.delete("/availabilityzones/{name}", status_code=204)
def delete_az(name: str, svc: Services = Depends(services),
              who: Caller = Depends(caller)) -> Response:
    who.authorize("availability-zone:delete", who.project_id)
    with write(svc) as session:
        az = get_az(session, name)
        used = session.execute(select(m.LoadBalancer.id).where(
            m.LoadBalancer.availability_zone == name,
            m.LoadBalancer.provisioning_status != C.DELETED).limit(1)).first()
        if used is not None:
            raise errors.Conflict(f"{NAME} {name} is in use and cannot be modified.")
        session.delete(az)
    return Response(status_code=204)
