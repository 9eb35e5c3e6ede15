"""Routes that decide access before they look at the input.

FastAPI reads and JSON-decodes a request's body before it solves the dependencies, and reports
body, query and path errors together with them: with the permission checked inside the endpoint
(or in an ordinary dependency), a caller without the right gets 422 for a bad body and learns
the schema. :class:`GuardedRoute` solves the route's *access dependencies* first — every
``Depends(policy.requires(...))`` (:class:`kommune.permissions.Requirement`) and every
:data:`~kommune.auth.principal.CurrentPrincipal` in its dependency tree — and only then hands the
request to FastAPI's handler. So, for every guarded route, whatever the body, query or path:

* no token (or an invalid one) → 401,
* a valid token without the permission → 403,
* only then validation (422) and the endpoint.

A service gets it by building its routers with :func:`service_router` (or
``APIRouter(route_class=GuardedRoute)``). Declare permissions on the route (a parameter or
``dependencies=[...]``) or on its ``APIRouter``; dependencies added only at ``include_router``
time are not seen before the body. A route open to anonymous callers says so with
``dependencies=[Depends(public_access)]``; ``tests/test_authorization.py`` walks every route of
every service and fails for a route that is neither guarded nor declared public.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from enum import Enum
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import solve_dependencies
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from kommune.auth.principal import current_principal
from kommune.permissions import Requirement

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


async def public_access() -> None:
    """Marker dependency: ``dependencies=[Depends(public_access)]`` opens a route to everyone."""


def is_access_dependency(call: object) -> bool:
    return isinstance(call, Requirement) or call is current_principal


def access_dependants(dependant: Dependant) -> list[Dependant]:
    """The dependencies in ``dependant``'s tree that decide access, outermost first."""
    found: list[Dependant] = []
    for sub in dependant.dependencies:
        if is_access_dependency(sub.call):
            found.append(sub)
        else:
            found.extend(access_dependants(sub))
    return found


def requirements_of(dependant: Dependant) -> list[Requirement[Any]]:
    """The permissions a route requires (empty for a route that only authenticates)."""
    return [sub.call for sub in access_dependants(dependant) if isinstance(sub.call, Requirement)]


def is_public(dependant: Dependant) -> bool:
    return any(sub.call is public_access for sub in dependant.dependencies)


class GuardedRoute(APIRoute):
    """An :class:`~fastapi.routing.APIRoute` that authenticates and authorises before parsing."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        access = access_dependants(self.dependant)
        if not access:
            return handler
        guard = Dependant(dependencies=access, path=self.path_format)
        overrides = self.dependency_overrides_provider

        async def guarded(request: Request) -> Response:
            solved = await solve_dependencies(
                request=request,
                dependant=guard,
                dependency_overrides_provider=overrides,
                async_exit_stack=request.scope["fastapi_inner_astack"],
                embed_body_fields=False,
            )
            if solved.errors:  # access dependencies read only headers; kept for completeness
                raise RequestValidationError(solved.errors)
            return await handler(request)

        return guarded


def service_router(
    prefix: str = "", *, tags: Sequence[str | Enum] | None = None, **kwargs: Any
) -> APIRouter:
    """An ``APIRouter`` whose routes are :class:`GuardedRoute`\\ s: every service's routers."""
    return APIRouter(prefix=prefix, tags=list(tags or []), route_class=GuardedRoute, **kwargs)
