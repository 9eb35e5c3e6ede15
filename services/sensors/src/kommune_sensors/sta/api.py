"""``GET /sta/v1.1/...``: the SensorThings read API.

Open to anonymous callers (declared with ``public_access``; reads only): they see what belongs to
published things, staff (``read_data``) see everything. Paths: the service root, an entity set,
an entity ``Set(id)``, and one navigation ``Set(id)/Navigation``. Query options: ``$filter``
(:mod:`kommune_sensors.sta.filter`), ``$orderby``, ``$top`` (default 100, at most 1000),
``$skip``, ``$count``, ``$select``, ``$expand`` (one level), and ``@iot.nextLink``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Select,
    SQLColumnExpression,
    func,
    literal,
    select,
    true,
)
from sqlalchemy.orm import aliased

from kommune.auth.principal import OptionalPrincipal
from kommune.db import DbSession
from kommune.errors import NotFound
from kommune.routing import public_access, service_router
from kommune_sensors.access import Permission, can
from kommune_sensors.devices.models import Datastream
from kommune_sensors.sta.entities import ORDER, SETS, EntitySet
from kommune_sensors.sta.filter import FilterError, compile_filter
from kommune_sensors.sta.serialize import serialize
from kommune_sensors.sta.update import remove, update
from kommune_sensors.sta.write import MayWrite, create

PREFIX = "/sta/v1.1"
DEFAULT_TOP = 100
MAX_TOP = 1000
MAX_SKIP = 1_000_000
CONFORMANCE = [
    "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/create-update-delete",
]
_PATH = re.compile(r"([A-Za-z]+)(?:\((\d{1,18})\))?(?:/([A-Za-z]+))?")
_ORDER_ITEM = re.compile(r"\s*([A-Za-z@./]+)(?:\s+(asc|desc))?\s*", re.IGNORECASE)
KNOWN_OPTIONS = {
    "$filter",
    "$orderby",
    "$top",
    "$skip",
    "$count",
    "$select",
    "$expand",
    "$skiptoken",
}
EXPAND_OPTIONS = {"$top", "$orderby", "$select", "$filter"}

router = service_router(PREFIX, tags=["SensorThings"])
Public = [Depends(public_access)]

OptionText = Annotated[str | None, Query(max_length=2000)]


def _base_url(request: Request) -> str:
    """Where the links point: the platform's public address, else the one asked."""
    public: str | None = request.state.settings.public_base_url
    return (public or str(request.base_url)).rstrip("/") + PREFIX


@router.get("", dependencies=Public, summary="SensorThings service root")
async def service_root(request: Request) -> dict[str, Any]:
    base = _base_url(request)
    return {
        "value": [{"name": name, "url": f"{base}/{name}"} for name in ORDER],
        "serverSettings": {"conformance": CONFORMANCE},
    }


def _int_option(value: str | None, name: str, default: int, maximum: int) -> int:
    if value is None:
        return default
    if not value.isdigit() or int(value) > maximum:
        raise FilterError(f"{name} must be a whole number from 0 to {maximum}.")
    return int(value)


def _order_by(entity: EntitySet, text: str | None) -> list[ColumnElement[Any]]:
    clauses: list[ColumnElement[Any]] = []
    for part in (text or "").split(",") if text else []:
        match = _ORDER_ITEM.fullmatch(part)
        if match is None:
            raise FilterError("$orderby is a list of 'property [asc|desc]'.")
        column = entity.resolve(match.group(1).split("/"))
        clauses.append(column.desc() if (match.group(2) or "").lower() == "desc" else column.asc())
    return [*clauses, entity.id_column.asc()]


def _names(text: str | None, allowed: set[str], option: str) -> list[str]:
    if not text:
        return []
    names = [name.strip() for name in text.split(",")]
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise FilterError(f"{option}: unknown {', '.join(sorted(unknown))}.")
    return names


@router.get("/{resource_path:path}", dependencies=Public, summary="SensorThings resources")
async def resource(
    resource_path: str,
    request: Request,
    session: DbSession,
    principal: OptionalPrincipal,
    filter_: Annotated[str | None, Query(alias="$filter", max_length=2000)] = None,
    orderby: Annotated[str | None, Query(alias="$orderby", max_length=500)] = None,
    top: Annotated[str | None, Query(alias="$top", max_length=10)] = None,
    skip: Annotated[str | None, Query(alias="$skip", max_length=10)] = None,
    count: Annotated[str | None, Query(alias="$count", max_length=5)] = None,
    select_: Annotated[str | None, Query(alias="$select", max_length=500)] = None,
    expand: Annotated[str | None, Query(alias="$expand", max_length=500)] = None,
    skiptoken: Annotated[str | None, Query(alias="$skiptoken", max_length=20)] = None,
) -> JSONResponse:
    unknown = [k for k in request.query_params if k.startswith("$") and k not in KNOWN_OPTIONS]
    if unknown:
        raise FilterError(f"Unsupported query option {unknown[0]!r}.")
    match = _PATH.fullmatch(resource_path.strip("/"))
    if match is None or match.group(1) not in SETS:
        raise NotFound("No such SensorThings resource.")
    set_name, raw_id, nav_name = match.groups()
    staff = principal is not None and can(principal, Permission.READ_DATA)
    source = SETS[set_name]
    if nav_name is not None and raw_id is None:
        raise NotFound("Navigation needs an entity: Set(id)/Navigation.")

    target, single = source, raw_id is not None
    condition: SQLColumnExpression[Any] = true()
    if raw_id is not None:
        condition = source.id_column == int(raw_id)
    if nav_name is not None:
        nav = source.navigation.get(nav_name)
        if nav is None:
            raise NotFound(f"{set_name} has no navigation {nav_name!r}.")
        await _require_visible(session, source, int(raw_id or 0), staff)
        target = SETS[nav.target]
        condition = nav.link(literal(int(raw_id or 0)))
        single = not nav.many
    statement: Select[Any] = target.base().where(condition)
    if not staff:
        statement = statement.where(target.published())
    if filter_:
        statement = statement.where(compile_filter(filter_, target.context()))
    selected = _names(select_, {"id", "@iot.id", *target.properties}, "$select")
    expanded = parse_expand(expand, set(target.navigation))
    base = _base_url(request)

    if single:
        row = (await session.execute(statement.limit(1))).scalar_one_or_none()
        if row is None:
            raise NotFound("No such entity.")
        entity = serialize(target, row, base, selected)
        await _expand(session, target, [(row, entity)], expanded, base, staff)
        return JSONResponse(entity)

    limit = _int_option(top, "$top", DEFAULT_TOP, MAX_TOP)
    offset = _int_option(skip, "$skip", 0, MAX_SKIP)
    after = _int_option(skiptoken, "$skiptoken", 0, 2**63 - 1) if skiptoken else None
    body: dict[str, Any] = {}
    if count == "true":
        route = f"{set_name}/{nav_name}" if nav_name else None
        body["@iot.count"] = await _count(session, statement, target, route, raw_id, filter_, staff)
    elif count not in (None, "false"):
        raise FilterError("$count is true or false.")
    page_statement = statement
    if after is not None:
        if orderby:
            raise FilterError("$skiptoken pages by id: it does not go with $orderby.")
        page_statement = statement.where(target.id_column > after)
    ordered = page_statement.order_by(*_order_by(target, orderby))
    rows = list((await session.execute(ordered.offset(offset).limit(limit + 1))).scalars())
    page = rows[:limit]
    entities = [(row, serialize(target, row, base, selected)) for row in page]
    await _expand(session, target, entities, expanded, base, staff)
    body["value"] = [entity for _, entity in entities]
    if len(rows) > limit:
        params = dict(request.query_params)
        params["$top"] = str(limit)
        params.pop("$count", None)  # the first page told it; each page would count again
        if orderby:
            params["$skip"] = str(offset + limit)
        else:  # keyset: the next page starts after the last id, however deep (no offset scan)
            params.pop("$skip", None)
            params["$skiptoken"] = str(getattr(page[-1], "id"))  # noqa: B009
        body["@iot.nextLink"] = f"{base}/{resource_path.strip('/')}?{urlencode(params)}"
    return JSONResponse(body)


@router.post(
    "/{resource_path:path}",
    status_code=201,
    summary="Create Things, Datastreams, Observations; CreateObservations (operator, admin)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": ["object", "array"]}}},
        }
    },
)
async def create_entity(
    resource_path: str, request: Request, session: DbSession, principal: MayWrite
) -> Response:
    return await create(resource_path, request, session, principal, _base_url(request))


_ENTITY_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


@router.patch(
    "/{resource_path:path}",
    summary="Update an entity: the members sent (operator, admin)",
    openapi_extra=_ENTITY_BODY,
)
async def patch_entity(
    resource_path: str, request: Request, session: DbSession, principal: MayWrite
) -> Response:
    return await update(
        resource_path, request, session, principal, _base_url(request), replace=False
    )


@router.put(
    "/{resource_path:path}",
    summary="Replace an entity: members not sent get their defaults (operator, admin)",
    openapi_extra=_ENTITY_BODY,
)
async def put_entity(
    resource_path: str, request: Request, session: DbSession, principal: MayWrite
) -> Response:
    return await update(
        resource_path, request, session, principal, _base_url(request), replace=True
    )


@router.delete(
    "/{resource_path:path}",
    summary="Delete an entity and what depends on it (operator, admin)",
)
async def delete_entity(resource_path: str, session: DbSession, principal: MayWrite) -> Response:
    return await remove(resource_path, session)


async def _require_visible(
    session: DbSession, entity: EntitySet, entity_id: int, staff: bool
) -> None:
    statement = select(entity.id_column).where(entity.id_column == entity_id)
    if not staff:
        statement = statement.where(entity.published())
    if (await session.execute(statement.limit(1))).first() is None:
        raise NotFound("No such entity.")


async def _count(
    session: DbSession,
    statement: Select[Any],
    target: EntitySet,
    nav_name: str | None,
    raw_id: str | None,
    filter_: str | None,
    staff: bool,
) -> int:
    """``@iot.count``. Observations without a filter: the counts the writer keeps per datastream
    (one row read for a datastream's, a sum over the datastreams for all: never a scan of the
    observations, FROST's slow count); otherwise ``count(*)`` of the filtered rows."""
    if target.name == "Observations" and not filter_:
        if nav_name == "Datastreams/Observations" and raw_id:
            stored = await session.scalar(
                select(Datastream.observation_count).where(Datastream.id == int(raw_id))
            )
            return int(stored or 0)
        if nav_name is None:
            total = select(func.coalesce(func.sum(Datastream.observation_count), 0))
            if not staff:
                total = total.where(SETS["Datastreams"].published())
            return int(await session.scalar(total) or 0)
    total = await session.scalar(select(func.count()).select_from(statement.subquery()))
    return int(total or 0)


def parse_expand(text: str | None, allowed: set[str]) -> list[tuple[str, dict[str, str]]]:
    """``Nav,Nav($top=1;$orderby=phenomenonTime desc)``: names with their options (one level)."""
    if not text:
        return []
    items: list[tuple[str, dict[str, str]]] = []
    for part in _split_top_level(text):
        match = _EXPAND_ITEM.fullmatch(part)
        if match is None or match.group(1) not in allowed:
            raise FilterError(f"$expand: unknown or malformed {part.strip()[:60]!r}.")
        options: dict[str, str] = {}
        for option in filter(None, (match.group(2) or "").split(";")):
            key, sep, value = option.partition("=")
            if not sep or key.strip() not in EXPAND_OPTIONS:
                raise FilterError(f"$expand options are {', '.join(sorted(EXPAND_OPTIONS))}.")
            options[key.strip()] = value.strip()
        items.append((match.group(1), options))
    return items


_EXPAND_ITEM = re.compile(r"\s*([A-Za-z]+)\s*(?:\((.*)\))?\s*", re.DOTALL)


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            raise FilterError("$expand: unbalanced parentheses.")
        current.append(char)
    if depth:
        raise FilterError("$expand: unbalanced parentheses.")
    parts.append("".join(current))
    return parts


async def _expand(
    session: DbSession,
    source: EntitySet,
    entities: list[tuple[Any, dict[str, Any]]],
    names: list[tuple[str, dict[str, str]]],
    base: str,
    staff: bool,
) -> None:
    """Each expanded navigation in one statement for the whole page: the parents' ids unnested,
    and per parent a LATERAL subquery with the options (``$top`` per parent, ``$orderby``...),
    so "the latest observation of each datastream" is one backward index probe per datastream."""
    if not entities:
        return
    parent_ids = [getattr(row, "id") for row, _ in entities]  # noqa: B009
    for name, options in names:
        nav = source.navigation[name]
        target = SETS[nav.target]
        by_parent: dict[int, list[dict[str, Any]]] = {pid: [] for pid in parent_ids}
        limit = _int_option(options.get("$top"), "$top", MAX_TOP if nav.many else 1, MAX_TOP)
        selected = _names(options.get("$select"), {"id", "@iot.id", *target.properties}, "$select")
        parents = select(func.unnest(literal(parent_ids, ARRAY(BigInteger))).label("pid")).subquery(
            "parents"
        )
        inner = target.base().where(nav.link(parents.c.pid))
        if not staff:
            inner = inner.where(target.published())
        if options.get("$filter"):
            inner = inner.where(compile_filter(options["$filter"], target.context()))
        inner = inner.order_by(*_order_by(target, options.get("$orderby"))).limit(limit)
        lateral = inner.lateral("expanded")
        entity = aliased(target.model, lateral)
        statement = select(parents.c.pid, entity).select_from(parents).join(lateral, true())
        for pid, item in (await session.execute(statement)).all():
            by_parent[pid].append(serialize(target, item, base, selected))
        for row, entity_body in entities:
            entity_body.pop(f"{name}@iot.navigationLink", None)
            found = by_parent[getattr(row, "id")]  # noqa: B009
            entity_body[name] = found if nav.many else (found[0] if found else None)
