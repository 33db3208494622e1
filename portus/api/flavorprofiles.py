"""/v2/lbaas/flavorprofiles: provider metadata that flavors point at (admin only)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from portus.api import collections, errors, provider_support, schemas_admin as sa, views
from portus.api.deps import Caller, Services, caller, services, write
from portus.db import models as m

router = APIRouter()
NAME = "Flavor Profile"
NIL_UUID = "00000000-0000-0000-0000-000000000000"


def view(fp: m.FlavorProfile) -> dict[str, Any]:
    return {"id": fp.id, "name": fp.name, "provider_name": fp.provider_name,
            "flavor_data": fp.flavor_data}


def get_profile(session: Session, profile_id: str) -> m.FlavorProfile:
    fp = None if profile_id == NIL_UUID else session.get(m.FlavorProfile, profile_id)
    if fp is None:
        raise errors.NotFound(NAME, profile_id)
    return fp


def validate(svc: Services, provider_name: str, flavor_data: str) -> None:
    metadata = provider_support.parse_metadata(flavor_data, "flavor_data")
    drv = provider_support.driver(svc.cfg, provider_name)
    provider_support.call(drv.validate_flavor, metadata)


LIST = collections.ListSpec(
    m.FlavorProfile, "flavorprofiles", ("id", "name", "provider_name", "flavor_data"),
    lambda _session, rows: [view(r) for r in rows], default_sort=("id",),
    links_key="flavorprofile_links")


@router.get("/flavorprofiles")
def list_profiles(request: Request, svc: Services = Depends(services),
                  who: Caller = Depends(caller)) -> dict[str, Any]:
    who.authorize("flavor-profile:get_all", who.project_id)
    with svc.db.read() as session:
        return collections.list_response(request, session, LIST, select(m.FlavorProfile),
                                         svc.cfg.api.pagination_max_limit)


@router.post("/flavorprofiles", status_code=201)
def create_profile(body: sa.FlavorProfileCreate, svc: Services = Depends(services),
                   who: Caller = Depends(caller)) -> dict[str, Any]:
    who.authorize("flavor-profile:post", who.project_id)
    req = body.flavorprofile
    validate(svc, req.provider_name, req.flavor_data)
    with write(svc) as session:
        fp = m.FlavorProfile(id=m.new_id(), name=req.name, provider_name=req.provider_name,
                             flavor_data=req.flavor_data)
        session.add(fp)
        session.flush()
        out = view(fp)
    return {"flavorprofile": out}


@router.get("/flavorprofiles/{profile_id}")
def show_profile(profile_id: str, request: Request, svc: Services = Depends(services),
                 who: Caller = Depends(caller)) -> dict[str, Any]:
    who.authorize("flavor-profile:get_one", who.project_id)
    with svc.db.read() as session:
        out = view(get_profile(session, profile_id))
    return {"flavorprofile": views.select_fields(out, request.query_params.getlist("fields"))}


def _in_use(session: Session, profile_id: str) -> bool:
    return session.execute(select(m.Flavor.id).where(
        m.Flavor.flavor_profile_id == profile_id).limit(1)).first() is not None


@router.put("/flavorprofiles/{profile_id}")
def update_profile(profile_id: str, body: sa.FlavorProfileUpdate,
                   svc: Services = Depends(services),
                   who: Caller = Depends(caller)) -> dict[str, Any]:
    who.authorize("flavor-profile:put", who.project_id)
    req = body.flavorprofile
    with write(svc) as session:
        fp = get_profile(session, profile_id)
        changes = {f: getattr(req, f) for f in req.model_fields_set}
        for field in ("name", "provider_name", "flavor_data"):
            if field in changes and changes[field] is None:
                raise errors.InvalidField(field, None, "Mandatory field cannot be null.")
        data_changes = {f for f in ("provider_name", "flavor_data")
                        if f in changes and changes[f] != getattr(fp, f)}
        if data_changes and _in_use(session, profile_id):
            # Flavors (and the load balancers built with them) rely on this metadata.
            raise errors.Conflict(f"{NAME} {profile_id} is in use and cannot be modified.")
        if data_changes:
            validate(svc, changes.get("provider_name", fp.provider_name),
                     changes.get("flavor_data", fp.flavor_data))
        for field, value in changes.items():
            setattr(fp, field, value)
        session.flush()
        out = view(fp)
    return {"flavorprofile": out}


@router.delete("/flavorprofiles/{profile_id}", status_code=204)
def delete_profile(profile_id: str, svc: Services = Depends(services),
                   who: Caller = Depends(caller)) -> Response:
    who.authorize("flavor-profile:delete", who.project_id)
    with write(svc) as session:
        fp = get_profile(session, profile_id)
        if _in_use(session, profile_id):
            raise errors.Conflict(f"{NAME} {profile_id} is in use and cannot be modified.")
        session.delete(fp)
    return Response(status_code=204)
