"""Just enough of the Identity (Keystone) v3 API for `openstack ... --project X` under
noauth: the CLI looks the project up (GET /projects/X, then /projects?name=X) before it
calls the load-balancer API. Under noauth any project id is valid, as in Octavia, so a
project exists under every name and its id is that name. Nothing is served otherwise.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from portus.api import errors
from portus.api.deps import Services, services

router = APIRouter()


def _project(project_id: str) -> dict[str, Any]:
    return {"id": project_id, "name": project_id, "domain_id": "default", "enabled": True,
            "description": "", "is_domain": False, "parent_id": "default", "tags": [],
            "links": {"self": None}}


def _noauth(svc: Services) -> None:
    if svc.cfg.api.auth_strategy != "noauth":
        raise errors.APIError("The resource could not be found.", 404)


@router.get("/projects/{project_id}")
def show_project(project_id: str, svc: Services = Depends(services)) -> dict[str, Any]:
    _noauth(svc)
    return {"project": _project(project_id)}


@router.get("/projects")
def list_projects(request: Request, svc: Services = Depends(services)) -> dict[str, Any]:
    _noauth(svc)
    names = request.query_params.getlist("name") + request.query_params.getlist("id")
    return {"projects": [_project(n) for n in names], "links": {"self": None, "next": None}}
