"""Redoc's bundle, served without the one asset it fetches from the internet (Redocly's logo).

The bundle comes from drf-spectacular-sidecar; its sidebar shows an image
from cdn.redoc.ly, which the Content-Security-Policy blocks. The image is
dropped (Redoc hides it when it does not load), the rest is the sidecar's file.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

REDOC_BUNDLE = "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
THIRD_PARTY_LOGO = 'src:"https://cdn.redoc.ly/redoc/logo-mini.svg"'


@lru_cache(maxsize=1)
def redoc_bundle_bytes() -> bytes:
    path = finders.find(REDOC_BUNDLE)
    if not path:
        raise FileNotFoundError(REDOC_BUNDLE)
    return Path(path).read_text(encoding="utf-8").replace(THIRD_PARTY_LOGO, 'src:""').encode()


@require_GET
def redoc_bundle(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(redoc_bundle_bytes(), content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=86400"
    return response
