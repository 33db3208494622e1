"""/v2/lbaas/providers: enabled provider drivers and what their metadata may say."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from portus.api import provider_support, views
from portus.api.deps import Caller, Services, caller, services

router = APIRouter()


@router.get("/providers")
def list_providers(request: Request, svc: Services = Depends(services),
                   who: Caller = Depends(caller)) -> dict[str, Any]:
    who.authorize("provider:get_all", who.project_id)
    fields = request.query_params.getlist("fields")
    return {"providers": [views.select_fields({"name": name, "description": description}, fields)
                          for name, description in svc.cfg.api.enabled_provider_drivers.items()]}


def _capabilities(request: Request, metadata: dict[str, str]) -> list[dict[str, str]]:
    params = request.query_params
    names, descriptions = params.getlist("name"), params.getlist("description")
    items = [{"name": k, "description": v} for k, v in metadata.items()
             if (not names or k in names) and (not descriptions or v in descriptions)]
    fields = params.getlist("fields")
    return [views.select_fields(item, fields) for item in items]


@router.get("/providers/{provider}/flavor_capabilities")
def flavor_capabilities(provider: str, request: Request, svc: Services = Depends(services),
                        who: Caller = Depends(caller)) -> dict[str, Any]:
    who.authorize("provider-flavor:get_all", who.project_id)
    drv = provider_support.driver(svc.cfg, provider)
    return {"flavor_capabilities": _capabilities(request, drv.flavor_capabilities())}


@router.get("/providers/{provider}/availability_zone_capabilities")
def availability_zone_capabilities(provider: str, request: Request,
                                   svc: Services = Depends(services),
                                   who: Caller = Depends(caller)) -> dict[str, Any]:
    who.authorize("provider-availability-zone:get_all", who.project_id)
    drv = provider_support.driver(svc.cfg, provider)
    return {"availability_zone_capabilities":
            _capabilities(request, drv.availability_zone_capabilities())}
