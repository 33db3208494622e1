"""Flavor profiles and availability-zone profiles: provider metadata (admin only).

The two resources behave the same and differ only in names, in the provider check
applied to their metadata and in what uses them, so one router factory serves both.
"""
# No `from __future__ import annotations`: the route signatures below take their body
# types from the ProfileKind, and FastAPI must see those classes, not strings.
from dataclasses import dataclass
from typing import Any, Callable

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from portus.api import collections, errors, provider_support, schemas_admin as sa, views
from portus.api.deps import Caller, Services, caller, services, write
from portus.db import models as m
from portus.drivers.provider.base import ProviderDriver

NIL_UUID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class ProfileKind:
    name: str  # as in messages: "Flavor Profile"
    model: Any
    path: str  # "/flavorprofiles"
    key: str  # request/response root key
    plural: str  # list key
    links_key: str
    rule: str  # policy object name
    data_field: str  # flavor_data | availability_zone_data
    validator: Callable[[ProviderDriver], Callable[[dict[str, Any]], None]]
    user_column: Any  # the column of the objects that point at a profile
    create_body: type[BaseModel]
    update_body: type[BaseModel]


def make_router(kind: ProfileKind) -> APIRouter:
    router = APIRouter()
    fields = ("id", "name", "provider_name", kind.data_field)

    def view(profile: Any) -> dict[str, Any]:
        return {f: getattr(profile, f) for f in fields}

    def get_profile(session: Session, profile_id: str) -> Any:
        profile = None if profile_id == NIL_UUID else session.get(kind.model, profile_id)
        if profile is None:
            raise errors.NotFound(kind.name, profile_id)
        return profile

    def validate(svc: Services, provider_name: str, data: str) -> None:
        metadata = provider_support.parse_metadata(data, kind.data_field)  # bad JSON: 400
        drv = provider_support.driver(svc.cfg, provider_name)
        provider_support.validate_metadata(provider_name, kind.validator(drv), metadata)  # 501

    def in_use(session: Session, profile_id: str) -> bool:
        return session.execute(select(kind.user_column).where(
            kind.user_column == profile_id).limit(1)).first() is not None

    listing = collections.ListSpec(kind.model, kind.plural, fields,
                                   lambda _session, rows: [view(r) for r in rows],
                                   default_sort=("id",), links_key=kind.links_key)

    @router.get(kind.path)
    def list_profiles(request: Request, svc: Services = Depends(services),
                      who: Caller = Depends(caller)) -> dict[str, Any]:
        who.authorize(f"{kind.rule}:get_all", who.project_id)
        with svc.db.read() as session:
            return collections.list_response(request, session, listing, select(kind.model),
                                             svc.cfg.api.pagination_max_limit)

    @router.post(kind.path, status_code=201)
    def create_profile(body: kind.create_body,  # type: ignore[name-defined]
                       svc: Services = Depends(services),
                       who: Caller = Depends(caller)) -> dict[str, Any]:
        who.authorize(f"{kind.rule}:post", who.project_id)
        req = getattr(body, kind.key)
        validate(svc, req.provider_name, getattr(req, kind.data_field))
        with write(svc) as session:
            profile = kind.model(id=m.new_id(), name=req.name, provider_name=req.provider_name,
                                 **{kind.data_field: getattr(req, kind.data_field)})
            session.add(profile)
            session.flush()
            out = view(profile)
        return {kind.key: out}

    @router.get(kind.path + "/{profile_id}")
    def show_profile(profile_id: str, request: Request, svc: Services = Depends(services),
                     who: Caller = Depends(caller)) -> dict[str, Any]:
        who.authorize(f"{kind.rule}:get_one", who.project_id)
        with svc.db.read() as session:
            out = view(get_profile(session, profile_id))
        return {kind.key: views.select_fields(out, request.query_params.getlist("fields"))}

    @router.put(kind.path + "/{profile_id}")
    def update_profile(profile_id: str, body: kind.update_body,  # type: ignore[name-defined]
                       svc: Services = Depends(services),
                       who: Caller = Depends(caller)) -> dict[str, Any]:
        who.authorize(f"{kind.rule}:put", who.project_id)
        req = getattr(body, kind.key)
        with write(svc) as session:
            profile = get_profile(session, profile_id)
            changes = {f: getattr(req, f) for f in req.model_fields_set}
            for field in fields[1:]:
                if field in changes and changes[field] is None:
                    raise errors.InvalidField(field, None, "Mandatory field cannot be null.")
            data_changes = {f for f in ("provider_name", kind.data_field)
                            if f in changes and changes[f] != getattr(profile, f)}
            if data_changes and in_use(session, profile_id):
                # What uses the profile (and the load balancers built with it) relies on it.
                raise errors.Conflict(f"{kind.name} {profile_id} is in use and cannot be "
                                      f"modified.")
            if data_changes:
                validate(svc, changes.get("provider_name", profile.provider_name),
                         changes.get(kind.data_field, getattr(profile, kind.data_field)))
            for field, value in changes.items():
                setattr(profile, field, value)
            session.flush()
            out = view(profile)
        return {kind.key: out}

    @router.delete(kind.path + "/{profile_id}", status_code=204)
    def delete_profile(profile_id: str, svc: Services = Depends(services),
                       who: Caller = Depends(caller)) -> Response:
        who.authorize(f"{kind.rule}:delete", who.project_id)
        with write(svc) as session:
            profile = get_profile(session, profile_id)
            if in_use(session, profile_id):
                raise errors.Conflict(f"{kind.name} {profile_id} is in use and cannot be "
                                      f"modified.")
            session.delete(profile)
        return Response(status_code=204)

    return router


FLAVOR_PROFILES = ProfileKind(
    name="Flavor Profile", model=m.FlavorProfile, path="/flavorprofiles",
    key="flavorprofile", plural="flavorprofiles", links_key="flavorprofile_links",
    rule="flavor-profile", data_field="flavor_data",
    validator=lambda drv: drv.validate_flavor, user_column=m.Flavor.flavor_profile_id,
    create_body=sa.FlavorProfileCreate, update_body=sa.FlavorProfileUpdate)

AVAILABILITY_ZONE_PROFILES = ProfileKind(
    name="Availability Zone Profile", model=m.AvailabilityZoneProfile,
    path="/availabilityzoneprofiles", key="availability_zone_profile",
    plural="availability_zone_profiles", links_key="availability_zone_profile_links",
    rule="availability-zone-profile", data_field="availability_zone_data",
    validator=lambda drv: drv.validate_availability_zone,
    user_column=m.AvailabilityZone.availability_zone_profile_id,
    create_body=sa.AvailabilityZoneProfileCreate, update_body=sa.AvailabilityZoneProfileUpdate)

flavor_profiles_router = make_router(FLAVOR_PROFILES)
availability_zone_profiles_router = make_router(AVAILABILITY_ZONE_PROFILES)
