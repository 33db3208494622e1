"""/v2/lbaas/availabilityzoneprofiles: provider metadata for availability zones (admin)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from portus.api import collections, errors, provider_support, schemas_admin as sa, views
from portus.api.deps import Caller, Services, caller, services, write
from portus.db import models as m

router = APIRouter()
NAME = "Availability Zone Profile"
NIL_UUID = "00000000-0000-0000-0000-000000000000"


def view(azp: m.AvailabilityZoneProfile) -> dict[str, Any]:
    return {"id": azp.id, "name": azp.name, "provider_name": azp.provider_name,
            "availability_zone_data": azp.availability_zone_data}


def get_profile(session: Session, profile_id: str) -> m.AvailabilityZoneProfile:
    azp = None if profile_id == NIL_UUID else session.get(m.AvailabilityZoneProfile, profile_id)
    if azp is None:
        raise errors.NotFound(NAME, profile_id)
    return azp


def validate(svc: Services, provider_name: str, availability_zone_data: str) -> None:
    metadata = provider_support.parse_metadata(availability_zone_data, "availability_zone_data")
    drv = provider_support.driver(svc.cfg, provider_name)
    provider_support.call(drv.validate_availability_zone, metadata)


LIST = collections.ListSpec(
    m.AvailabilityZoneProfile, "availability_zone_profiles",
    ("id", "name", "provider_name", "availability_zone_data"),
    lambda _session, rows: [view(r) for r in rows], default_sort=("id",),
    links_key="availability_zone_profile_links")


@router.get("/availabilityzoneprofiles")
def list_profiles(request: Request, svc: Services = Depends(services),
                  who: Caller = Depends(caller)) -> dict[str, Any]:
    who.authorize("availability-zone-profile:get_all", who.project_id)
    with svc.db.read() as session:
        return collections.list_response(request, session, LIST, select(m.AvailabilityZoneProfile),
                                         svc.cfg.api.pagination_max_limit)


@router.post("/availabilityzoneprofiles", status_code=201)
def create_profile(body: sa.AvailabilityZoneProfileCreate, svc: Services = Depends(services),
                   who: Caller = Depends(caller)) -> dict[str, Any]:
    who.authorize("availability-zone-profile:post", who.project_id)
    req = body.availability_zone_profile
    validate(svc, req.provider_name, req.availability_zone_data)
    with write(svc) as session:
        azp = m.AvailabilityZoneProfile(id=m.new_id(), name=req.name, provider_name=req.provider_name,
                             availability_zone_data=req.availability_zone_data)
        session.add(azp)
        session.flush()
        out = view(azp)
    return {"availability_zone_profile": out}


@router.get("/availabilityzoneprofiles/{profile_id}")
def show_profile(profile_id: str, request: Request, svc: Services = Depends(services),
                 who: Caller = Depends(caller)) -> dict[str, Any]:
    who.authorize("availability-zone-profile:get_one", who.project_id)
    with svc.db.read() as session:
        out = view(get_profile(session, profile_id))
    return {"availability_zone_profile": views.select_fields(out, request.query_params.getlist("fields"))}


def _in_use(session: Session, profile_id: str) -> bool:
    return session.execute(select(m.AvailabilityZone.name).where(
        m.AvailabilityZone.availability_zone_profile_id == profile_id).limit(1)).first() is not None


@router.put("/availabilityzoneprofiles/{profile_id}")
def update_profile(profile_id: str, body: sa.AvailabilityZoneProfileUpdate,
                   svc: Services = Depends(services),
                   who: Caller = Depends(caller)) -> dict[str, Any]:
    who.authorize("availability-zone-profile:put", who.project_id)
    req = body.availability_zone_profile
    with write(svc) as session:
        azp = get_profile(session, profile_id)
        changes = {f: getattr(req, f) for f in req.model_fields_set}
        for field in ("name", "provider_name", "availability_zone_data"):
            if field in changes and changes[field] is None:
                raise errors.InvalidField(field, None, "Mandatory field cannot be null.")
        data_changes = {f for f in ("provider_name", "availability_zone_data")
                        if f in changes and changes[f] != getattr(azp, f)}
        if data_changes and _in_use(session, profile_id):
            # Availability zones (and their load balancers) rely on this metadata.
            raise errors.Conflict(f"{NAME} {profile_id} is in use and cannot be modified.")
        if data_changes:
            validate(svc, changes.get("provider_name", azp.provider_name),
                     changes.get("availability_zone_data", azp.availability_zone_data))
        for field, value in changes.items():
            setattr(azp, field, value)
        session.flush()
        out = view(azp)
    return {"availability_zone_profile": out}


@router.delete("/availabilityzoneprofiles/{profile_id}", status_code=204)
def delete_profile(profile_id: str, svc: Services = Depends(services),
                   who: Caller = Depends(caller)) -> Response:
    who.authorize("availability-zone-profile:delete", who.project_id)
    with write(svc) as session:
        azp = get_profile(session, profile_id)
        if _in_use(session, profile_id):
            raise errors.Conflict(f"{NAME} {profile_id} is in use and cannot be modified.")
        session.delete(azp)
    return Response(status_code=204)
