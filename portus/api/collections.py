"""List endpoints: filtering, sorting, paging and field selection, all in SQL."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping
from urllib.parse import urlencode

import orjson
from fastapi import Request, Response
from sqlalchemy import Select, and_, exists, false, not_, or_, select
from sqlalchemy.orm import Session

from portus.api import errors
from portus.db import models as m

_RESERVED = {"limit", "marker", "page_reverse", "sort", "sort_key", "sort_dir", "fields"}
_TAG_FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")
_API_TO_COLUMN = {"admin_state_up": "enabled", "tenant_id": "project_id",
                  "max_retries": "rise_threshold", "max_retries_down": "fall_threshold",
                  "loadbalancer_id": "load_balancer_id"}


@dataclass
class ListSpec:
    model: type
    plural: str
    filterable: tuple[str, ...]  # API attribute names accepted as filters
    serialize: Callable[[Session, list[Any]], list[dict[str, Any]]]
    # Models without an `id` or `created_at` (quotas, flavors, availability zones) name
    # their key column (the marker) and their default sort.
    key: str = "id"
    default_sort: tuple[str, ...] = ("created_at", "id")
    links_key: str = ""  # empty: "<plural>_links"
    # Turns the page's query into one of plain columns: `serialize` then gets rows
    # (named tuples) instead of ORM objects, which are far slower to load by the 1,000.
    columns: Callable[[Select[Any]], Select[Any]] | None = None
    # Filters on attributes the row does not hold (a load balancer's VIP is in the vip
    # table): API name -> the condition for the given values, such as a correlated EXISTS.
    other_filters: Mapping[str, Callable[[list[str]], Any]] = field(default_factory=dict)


def _coerce(column: Any, value: str) -> Any:
    python_type = getattr(column.type, "python_type", str)
    if python_type is bool:
        if value.lower() in ("true", "1"):
            return True
        if value.lower() in ("false", "0"):
            return False
        raise errors.BadRequest(f"Invalid filter argument: {value} is not a boolean")
    if python_type is int:
        try:
            return int(value)
        except ValueError:
            raise errors.BadRequest(f"Invalid filter argument: {value} is not an integer") from None
    return value


def _sort_keys(request: Request, spec: ListSpec) -> list[tuple[str, str]]:
    params = request.query_params
    keys: list[tuple[str, str]] = []
    if "sort" in params:
        for part in ",".join(params.getlist("sort")).split(","):
            if not part.strip():
                continue
            key, _, direction = part.strip().partition(":")
            keys.append((key, direction or "asc"))
    elif "sort_key" in params:
        dirs = params.getlist("sort_dir")
        for i, key in enumerate(params.getlist("sort_key")):
            keys.append((key, dirs[i] if i < len(dirs) else "asc"))
    # Only the API's own attributes: not relationships, internal columns or Python names.
    sortable = set(spec.filterable) | {c for c in ("created_at", "updated_at")
                                       if hasattr(spec.model, c)}
    out = []
    for key, direction in keys:
        column = _API_TO_COLUMN.get(key, key)
        if key not in sortable or not hasattr(spec.model, column):
            raise errors.BadRequest(f"Supplied sort key '{key}' is not valid.")
        if direction not in ("asc", "desc"):
            raise errors.BadRequest(f"Supplied sort direction '{direction}' is not valid.")
        out.append((column, direction))
    for default in spec.default_sort:
        if default not in [k for k, _ in out]:
            out.append((default, out[0][1] if out else "asc"))
    return out


def list_response(request: Request, session: Session, spec: ListSpec, query: Select[Any],
                  max_limit: int) -> Any:
    """The list as a ready JSON response. Typed Any so handlers keep their documented
    dict type: FastAPI passes a Response through untouched, which spares a 1,000-item
    page its generic (and several times slower) response serialisation."""
    return JSONBody(list_body(request, session, spec, query, max_limit))


class JSONBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def list_body(request: Request, session: Session, spec: ListSpec, query: Select[Any],
              max_limit: int) -> dict[str, Any]:
    model = spec.model
    params = request.query_params
    query = _tag_filters(request, model, query)
    for key in params.keys():
        if key in _RESERVED or (key in _TAG_FILTERS and hasattr(model, "tag_rows")):
            continue
        if key in spec.other_filters:
            query = query.where(spec.other_filters[key](params.getlist(key)))
            continue
        if key not in spec.filterable:
            raise errors.BadRequest(f"Invalid filter argument: {key}")
        column = getattr(model, _API_TO_COLUMN.get(key, key))
        values = params.getlist(key)
        query = query.where(column.in_([_coerce(column, v) for v in values]))

    limit_text = params.get("limit")
    limit: int | None = max_limit
    if limit_text is not None:
        # As Octavia: "infinite" or a limit below 1 means no limit; above the maximum,
        # the maximum.
        if limit_text.lower() == "infinite":
            limit = None
        else:
            try:
                limit = int(limit_text)
            except ValueError:
                raise errors.BadRequest(f"Invalid limit value: {limit_text}") from None
            limit = None if limit < 1 else min(limit, max_limit)
    page_reverse = params.get("page_reverse", "false").lower() == "true"
    sort = _sort_keys(request, spec)
    marker = params.get("marker")
    if marker:
        marker_row = session.get(model, marker)
        if marker_row is None:
            raise errors.BadRequest(f"Invalid marker: {marker}")
        query = query.where(_after(model, marker_row, sort, page_reverse))
    order = []
    for column, direction in sort:
        col = getattr(model, column)
        ascending = (direction == "asc") != page_reverse
        if _nullable(model, column):
            # NULLs last ascending, first descending, on every database (they differ).
            order.append(col.is_(None).asc() if ascending else col.is_(None).desc())
        order.append(col.asc() if ascending else col.desc())
    query = query.order_by(*order)
    if limit is not None:
        query = query.limit(limit + 1)  # one more row tells whether a next page exists
    if spec.columns is not None:
        rows: list[Any] = list(session.connection().execute(spec.columns(query)).all())
    else:
        rows = list(session.execute(query).scalars().unique())
    page_full = limit is not None and len(rows) > limit
    rows = rows[:limit]
    if page_reverse:
        rows.reverse()
    fields = params.getlist("fields")
    items = spec.serialize(session, rows)
    if fields:
        items = [{k: v for k, v in item.items() if k in fields} for item in items]
    links = _links(request, [getattr(r, spec.key) for r in rows], page_full, marker, limit or 0)
    return {spec.plural: items, f"{spec.links_key or spec.plural + '_links'}": links}


def _after(model: type, marker_row: Any, sort: list[tuple[str, str]], reverse: bool) -> Any:
    """Rows strictly after the marker in the requested order (keyset pagination)."""
    clauses = []
    for i, (column, direction) in enumerate(sort):
        col = getattr(model, column)
        value = getattr(marker_row, column)
        equal = [_same(getattr(model, c), getattr(marker_row, c)) for c, _ in sort[:i]]
        forward = (direction == "asc") != reverse
        clauses.append(and_(*equal, _beyond(col, value, forward, _nullable(model, column))))
    return or_(*clauses)


def _nullable(model: type, column: str) -> bool:
    return bool(model.__table__.c[column].nullable)  # type: ignore[attr-defined]


def _same(col: Any, value: Any) -> Any:
    return col.is_(None) if value is None else col == value


def _beyond(col: Any, value: Any, ascending: bool, nullable: bool) -> Any:
    """Rows after `value` in this column's scan order, where NULLs sort last ascending."""
    if value is None:
        return false() if ascending else col.is_not(None)
    if ascending:
        return or_(col > value, col.is_(None)) if nullable else col > value
    return col < value


def _links(request: Request, rows: list[str], page_full: bool, marker: str | None,
           limit: int) -> list[dict[str, str]]:
    # As Octavia: "next" when the page is full, "previous" only when a marker was given.
    base = str(request.url).split("?")[0]
    services = getattr(request.app.state, "services", None)
    api_base_uri = services.cfg.api.api_base_uri if services is not None else ""
    if api_base_uri:  # behind a proxy: the address clients use, not the one we see
        base = api_base_uri.rstrip("/") + request.url.path
    params = [(k, v) for k, v in request.query_params.multi_items()
              if k not in ("marker", "page_reverse", "limit")]
    links = []
    if rows and page_full:
        query = params + [("limit", str(limit)), ("marker", rows[-1])]
        links.append({"rel": "next", "href": f"{base}?{urlencode(query)}"})
    if rows and marker:
        query = (params + ([("limit", str(limit))] if limit else [])  # 0: unlimited
                 + [("marker", rows[0]), ("page_reverse", "True")])
        links.append({"rel": "previous", "href": f"{base}?{urlencode(query)}"})
    return links


def base_query(model: type, project_id: str | None, is_admin: bool) -> Select[Any]:
    query: Select[Any] = select(model).where(
        model.provisioning_status != "DELETED")  # type: ignore[attr-defined]
    if not is_admin and project_id:
        query = query.where(model.project_id == project_id)  # type: ignore[attr-defined]
    return query


def _tag_values(request: Request, name: str) -> list[str]:
    values: list[str] = []
    for raw in request.query_params.getlist(name):
        values.extend(v for v in raw.split(",") if v)
    return values


def _has_tag(model: Any, tags: list[str]) -> Any:
    """EXISTS: the row has one of `tags` (a correlated subquery on the tag table)."""
    return exists().where(m.Tag.resource_id == model.id, m.Tag.tag.in_(tags))


def _tag_filters(request: Request, model: Any, query: Select[Any]) -> Select[Any]:
    """tags (all of), tags-any, not-tags (lacks at least one of), not-tags-any; values
    comma-separated or repeated. Pushed to SQL, so paging stays in SQL too."""
    if not hasattr(model, "tag_rows"):
        return query
    all_of = _tag_values(request, "tags")
    if all_of:
        query = query.where(and_(*[_has_tag(model, [t]) for t in all_of]))
    any_of = _tag_values(request, "tags-any")
    if any_of:
        query = query.where(_has_tag(model, any_of))
    not_all = _tag_values(request, "not-tags")
    if not_all:
        query = query.where(not_(and_(*[_has_tag(model, [t]) for t in not_all])))
    not_any = _tag_values(request, "not-tags-any")
    if not_any:
        query = query.where(not_(_has_tag(model, not_any)))
    return query
