"""The API reference pages work under the site's Content-Security-Policy and load nothing from other sites."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("path, ready", [("/api/redoc/", "h1"), ("/api/docs/", ".swagger-ui .title")])
def test_the_api_docs_render_from_this_site_only(stack, page, path, ready):
    hosts = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
    page.goto(f"{stack.base_url}{path}")
    expect(page.locator(ready).first).to_contain_text("LR Arena API", timeout=60_000)
    assert hosts <= {urlsplit(stack.base_url).netloc, ""}, f"requests to other sites: {hosts}"
