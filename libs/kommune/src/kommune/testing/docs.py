"""Checks that an app's API docs pages work without internet access (no CDN)."""

from __future__ import annotations

import re

import httpx

ASSET_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
ASSET_CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
}


async def assert_docs_page_is_self_contained(
    client: httpx.AsyncClient, page: str = "/docs"
) -> list[str]:
    """``page`` answers HTML whose every asset is a same-origin path that answers 200.

    No ``http://`` or ``https://`` URL may appear in the page at all (that would be another
    host, e.g. a CDN); each referenced asset must answer with a JS, CSS or PNG content type.
    Returns the asset paths.
    """
    response = await client.get(page)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "http://" not in html, html
    assert "https://" not in html, html
    assets = ASSET_REFERENCE.findall(html)
    assert any(a.endswith(".js") for a in assets), html
    for asset in assets:
        assert asset.startswith("/"), asset
        assert not asset.startswith("//"), asset
        extension = asset[asset.rfind(".") :]
        assert extension in ASSET_CONTENT_TYPES, asset
        answer = await client.get(asset)
        assert answer.status_code == 200, (asset, answer.status_code)
        content_type = answer.headers["content-type"].split(";")[0].strip()
        assert content_type in ASSET_CONTENT_TYPES[extension], (asset, content_type)
        assert answer.content, asset
    return assets
