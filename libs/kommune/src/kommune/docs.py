"""Swagger UI (and ReDoc) served from the platform itself, never from a CDN.

FastAPI's default ``/docs`` and ``/redoc`` pages load their JavaScript and CSS from a public CDN,
so on a city network without internet access they stay blank. :func:`install_docs` serves the
pages with the asset files shipped by the ``fastapi-offline`` package (Swagger UI 5 and ReDoc 2
dist files, no run-time download) mounted at ``/docs/static``. Every URL in the pages is a path
on the same origin, prefixed with the ASGI ``root_path`` when the app runs under one.

Build the app with ``docs_url=None, redoc_url=None`` (FastAPI's CDN pages off) and call this.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS_URL = "/docs/static"
"""Where the asset files are mounted; under ``/docs`` so no routed prefix can capture it."""

SWAGGER_JS = "swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui.css"
REDOC_JS = "redoc.standalone.js"
FAVICON = "favicon.png"


def assets_directory() -> Path:
    """The directory of the packaged Swagger UI / ReDoc dist files."""
    return Path(str(files("fastapi_offline") / "static"))


def install_docs(
    app: FastAPI,
    *,
    title: str,
    openapi_url: str = "/openapi.json",
    docs_url: str = DOCS_URL,
    redoc_url: str | None = REDOC_URL,
) -> None:
    """Serve Swagger UI at ``docs_url`` (and ReDoc at ``redoc_url``) with same-origin assets.

    Also serves Swagger UI's OAuth2 redirect page at ``docs_url + "/oauth2-redirect"``, as
    FastAPI's default does. None of these routes is part of the OpenAPI document.
    """
    if app.docs_url is not None or app.redoc_url is not None:
        raise ValueError("build the app with docs_url=None and redoc_url=None (CDN pages)")
    app.mount(ASSETS_URL, StaticFiles(directory=assets_directory()), name="docs-assets")
    oauth2_redirect_url = docs_url.rstrip("/") + "/oauth2-redirect"

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root_path(request)
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{title} - Swagger UI",
            oauth2_redirect_url=root + oauth2_redirect_url,
            swagger_js_url=f"{root}{ASSETS_URL}/{SWAGGER_JS}",
            swagger_css_url=f"{root}{ASSETS_URL}/{SWAGGER_CSS}",
            swagger_favicon_url=f"{root}{ASSETS_URL}/{FAVICON}",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    @app.get(oauth2_redirect_url, include_in_schema=False)
    async def swagger_ui_oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    if redoc_url is not None:

        @app.get(redoc_url, include_in_schema=False)
        async def redoc(request: Request) -> HTMLResponse:
            root = _root_path(request)
            return get_redoc_html(
                openapi_url=root + openapi_url,
                title=f"{title} - ReDoc",
                redoc_js_url=f"{root}{ASSETS_URL}/{REDOC_JS}",
                redoc_favicon_url=f"{root}{ASSETS_URL}/{FAVICON}",
                with_google_fonts=False,
            )


def _root_path(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")
