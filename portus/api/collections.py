"""List endpoints: filtering, sorting, paging and field selection, all in SQL."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping
from urllib.parse import urlencode

import orjson
from fastapi import Request, Response
from sqlalchemy import (JSON, DateTime, Float, Select, and_, case, cast, exists, false, func,
                        literal, not_, or_, select, true)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from portus.api import errors
from portus.common import constants as C
from portus.db import models as m

_RESERVED = {"limit", "marker", "page_reverse", "sort", "sort_key", "sort_dir", "fields"}
_TAG_FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")
_API_TO_COLUMN = {"admin_state_up": "enabled", "tenant_id": "project_id",
                  "max_retries": "rise_threshold", "max_retries_down": "fall_threshold",
                  "loadbalancer_id": "load_balancer_id"}
# Octavia's InvalidFilterArgument, InvalidMarker and InvalidLimit (octavia/common/exceptions.py).
BAD_FILTER = "One or more arguments are either duplicate or invalid"


def bad_marker(marker: str) -> errors.BadRequest:
    return errors.BadRequest(f"Supplied pagination marker '{marker}' is not valid.")


def bad_limit(limit: str) -> errors.BadRequest:
    return errors.BadRequest(f"Supplied pagination limit '{limit}' is not valid.")


def _bad_value(key: str, value: str, why: str) -> errors.BadRequest:
    return errors.BadRequest(f"{BAD_FILTER}: {key}={value!r} {why}.")


@dataclass(frozen=True)
class Derived:
    """A filter on an API attribute that is not a plain column of the model: a VIP
    field, a list or a computed value. `match(key, values, dialect)` gives the SQL
    condition for `?key=value&key=value2`; `order` the SQL expression to sort by (None:
    not a sort key, unless `constant`: sorting by it then leaves the order alone)."""
    match: Callable[[str, list[str], str], Any]
    order: Any = None
    constant: bool = False


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
    # API attributes that are not plain columns (see Derived), by API name.
    derived: Mapping[str, Derived] = field(default_factory=dict)


def _integer(key: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise _bad_value(key, value, "is not an integer") from None


def _coerce(key: str, column: Any, value: str) -> Any:
    python_type = getattr(column.type, "python_type", str)
    if python_type is bool:
        if value.lower() in C.TRUE_WORDS:
            return True
        if value.lower() in C.FALSE_WORDS:
            return False
        raise _bad_value(key, value, "is not a boolean")
    if python_type is int:
        return _integer(key, value)
    if python_type is float:
        try:
            return float(value)
        except ValueError:
            raise _bad_value(key, value, "is not a number") from None
    return value


def _timestamp(key: str, value: str) -> dt.datetime:
    """An ISO 8601 time as the API shows it (naive UTC; an offset or Z is converted)."""
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise _bad_value(key, value, "is not an ISO 8601 time") from None
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return when


def _column_filter(key: str, column: Any, values: list[str]) -> Any:
    """`column` matches one of `values`. Times are shown to the second, so a time
    matches that whole second; floats (a 4-byte FLOAT on MariaDB) match to 1e-6."""
    if isinstance(column.type, DateTime):
        starts = [_timestamp(key, v).replace(microsecond=0) for v in values]
        return or_(*(and_(column >= t, column < t + dt.timedelta(seconds=1)) for t in starts))
    if isinstance(column.type, Float):
        return or_(*(column.between(v - 1e-6, v + 1e-6)
                     for v in (_coerce(key, column, v) for v in values)))
    return column.in_([_coerce(key, column, v) for v in values])


# --- Derived filters, declared by the list handlers ------------------------------------

def constant(value: Any) -> Derived:
    """An attribute every object shows with the same value: a scalar (sorting by it
    leaves the order alone) or a list (of which one of the values must be a member)."""
    def match(_key: str, values: list[str], _dialect: str) -> Any:
        shown = value if isinstance(value, list) else [value]
        return true() if any(v in shown for v in values) else false()
    return Derived(match, constant=not isinstance(value, list))


def one_of(column: Any) -> Derived:
    """A list of references shown for a single column (a listener's `loadbalancers`)."""
    def match(_key: str, values: list[str], _dialect: str) -> Any:
        return column.in_(values)
    return Derived(match)


def related(key: Any, column: Any, foreign_key: Any, sortable: bool = True) -> Derived:
    """`column` of the row of another table whose `foreign_key` is this row's `key`
    (the load balancer's VIP, the pool's health monitor): filtered with an IN
    subquery, sorted by a correlated scalar subquery (NULL when there is no row)."""
    def match(_key: str, values: list[str], _dialect: str) -> Any:
        return key.in_(select(foreign_key).where(column.in_(values)))
    order = (select(column).where(foreign_key == key).correlate_except(column.table)
             .scalar_subquery()) if sortable else None
    return Derived(match, order)


def applied_operating_status(model: Any) -> Derived:
    """The operating status views.applied_operating_status shows (health monitors, L7
    policies and rules: ONLINE once applied and enabled, else OFFLINE), as an SQL
    expression to filter and sort by."""
    return computed(case((and_(model.enabled.is_(true()), model.provisioning_status == C.ACTIVE),
                          C.ONLINE), else_=C.OFFLINE))


def computed(expression: Any, integer: bool = False) -> Derived:
    """A value the API computes from columns (an SQL expression giving it; an integer
    if `integer`)."""
    def match(key: str, values: list[str], _dialect: str) -> Any:
        return expression.in_([_integer(key, v) for v in values] if integer else values)
    return Derived(match, expression)


def _json_has(column: Any, element: Any, dialect: str) -> Any:
    """The JSON document in `column` contains `element` (a string in an array, or the
    pairs of an object), in each database's own JSON functions."""
    text = json.dumps(element if isinstance(element, dict) else [element])
    if dialect == "postgresql":
        return cast(column, JSONB).op("@>")(cast(literal(text), JSONB))
    if dialect in ("mysql", "mariadb"):
        return func.json_contains(column, json.dumps(element)) == 1
    # SQLite: no containment operator; look through json_each's rows.
    each = func.json_each(column).table_valued("key", "value")
    if isinstance(element, dict):
        return and_(*(exists(select(literal(1)).select_from(each)
                             .where(each.c.key == k, each.c.value == v))
                      for k, v in element.items()), true())
    return exists(select(literal(1)).select_from(each).where(each.c.value == element))


def json_list(column: Any) -> Derived:
    """A list attribute (stored as a JSON array of strings): matches the objects whose
    list holds one of the values."""
    def match(_key: str, values: list[str], dialect: str) -> Any:
        return or_(*(_json_has(column, v, dialect) for v in values))
    return Derived(match)


def json_object(column: Any) -> Derived:
    """A string-to-string mapping (stored as a JSON object): each value is a JSON object
    as the API shows it, matching the objects whose mapping holds all its pairs."""
    def match(key: str, values: list[str], dialect: str) -> Any:
        wanted = []
        for value in values:
            try:
                pairs = json.loads(value)
            except ValueError:
                pairs = None
            if not isinstance(pairs, dict) or not all(
                    isinstance(v, str) for v in pairs.values()):
                raise _bad_value(key, value, "is not a JSON object of strings")
            wanted.append(pairs)
        return or_(*(_json_has(column, pairs, dialect) for pairs in wanted))
    return Derived(match)


@dataclass(frozen=True)
class _Key:
    name: str  # the column's name, or the API name of a derived key
    expr: Any  # what to order by
    nullable: bool
    direction: str


def _sort_keys(request: Request, spec: ListSpec) -> list[_Key]:
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
    model = spec.model
    # Only the API's own attributes: not relationships, internal columns or Python
    # names; nor lists and mappings (JSON, which has no order on PostgreSQL).
    sortable = set(spec.filterable) | {c for c in ("created_at", "updated_at")
                                       if hasattr(model, c)}
    out: list[_Key] = []
    for key, direction in keys:
        derived = spec.derived.get(key)
        column = _API_TO_COLUMN.get(key, key)
        if derived is not None and (derived.order is not None or derived.constant):
            pass
        elif (key not in sortable or column not in model.__table__.c  # type: ignore[attr-defined]
              or isinstance(model.__table__.c[column].type, JSON)):  # type: ignore[attr-defined]
            raise errors.BadRequest(f"Supplied sort key '{key}' is not valid.")
        if direction not in ("asc", "desc"):
            raise errors.BadRequest(f"Supplied sort direction '{direction}' is not valid.")
        if derived is not None:
            if derived.order is not None:  # a constant leaves the order alone
                out.append(_Key(key, derived.order, True, direction))
            continue
        out.append(_Key(column, getattr(model, column), _nullable(model, column), direction))
    for default in spec.default_sort:
        if default not in [k.name for k in out]:
            out.append(_Key(default, getattr(model, default), _nullable(model, default),
                            out[0].direction if out else "asc"))
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
    dialect = session.get_bind().dialect.name
    for key in params.keys():
        if key in _RESERVED or (key in _TAG_FILTERS and hasattr(model, "tag_rows")):
            continue
        values = params.getlist(key)
        derived = spec.derived.get(key)
        if derived is not None:
            query = query.where(derived.match(key, values, dialect))
        elif key in spec.filterable:
            column = getattr(model, _API_TO_COLUMN.get(key, key))
            query = query.where(_column_filter(key, column, values))
        else:
            raise errors.BadRequest(BAD_FILTER)

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
                raise bad_limit(limit_text) from None
            limit = None if limit < 1 else min(limit, max_limit)
    page_reverse = params.get("page_reverse", "false").lower() == "true"
    sort = _sort_keys(request, spec)
    marker = params.get("marker")
    if marker:
        # The marker's own values of the sort keys (derived ones too), in SQL.
        found = session.execute(select(*(k.expr for k in sort))
                                .where(getattr(model, spec.key) == marker)).first()
        if found is None:
            raise bad_marker(marker)
        query = query.where(_after(sort, tuple(found), page_reverse))
    order = []
    for sort_key in sort:
        col = sort_key.expr
        ascending = (sort_key.direction == "asc") != page_reverse
        if sort_key.nullable:
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


def _after(sort: list[_Key], marker: tuple[Any, ...], reverse: bool) -> Any:
    """Rows strictly after the marker in the requested order (keyset pagination)."""
    clauses = []
    for i, key in enumerate(sort):
        equal = [_same(k.expr, marker[j]) for j, k in enumerate(sort[:i])]
        forward = (key.direction == "asc") != reverse
        clauses.append(and_(*equal, _beyond(key.expr, marker[i], forward, key.nullable)))
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
