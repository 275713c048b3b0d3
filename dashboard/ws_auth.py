"""Websocket authentication: an API token, or the session cookie from an allowed origin.

Cross-site websocket hijacking rides on the browser's ambient cookies, so a
connection that authenticates with its session must come from one of our own
origins: the same scheme, host and port as the site it connects to (as
Django's CSRF check decides for forms), or one of CSRF_TRUSTED_ORIGINS. A connection that presents an API token (header
`Authorization: Token <key>`, or `?token=<key>` for clients that cannot set
headers) carries its credential explicitly and needs no Origin header.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": "80", "https": "443"}


def _token_key(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            if scheme.lower() == "token" and key.strip():
                return key.strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    keys = query.get("token")
    return keys[0] if keys else None


@database_sync_to_async
def _user_for_token(key: str):
    from rest_framework.authtoken.models import Token

    try:
        token = Token.objects.select_related("user").get(key=key)
    except Token.DoesNotExist:
        return AnonymousUser()
    return token.user if token.user.is_active else AnonymousUser()


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _origin_key(origin: str) -> tuple[str, str, str] | None:
    """(scheme, host, port) of an origin, the default port spelt out; None if it is no http(s) origin."""
    try:
        parts = urlsplit(origin.strip().lower())
        port = str(parts.port) if parts.port is not None else DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port


def _is_secure(scope) -> bool:
    if scope.get("scheme") in ("wss", "https"):
        return True
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        name, secure_value = proxy
        header = name.removeprefix("HTTP_").lower().replace("_", "-").encode()
        value = _header(scope, header)
        return value is not None and value.split(",")[0].strip() == secure_value
    return False


def site_origin(scope) -> str | None:
    """The origin the client connected to (scheme and Host header), if the host is one of ALLOWED_HOSTS."""
    host = _header(scope, b"host")
    if not host:
        return None
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    return f"{'https' if _is_secure(scope) else 'http'}://{host}"


def origin_allowed(scope) -> bool:
    """Scheme, host and port of the Origin header equal the site's own, or a trusted origin's."""
    origin = _header(scope, b"origin")
    key = _origin_key(origin) if origin else None
    if key is None:
        return False
    own = site_origin(scope)
    allowed = ([own] if own else []) + list(settings.CSRF_TRUSTED_ORIGINS)
    return any(key == _origin_key(candidate) for candidate in allowed)


class SameOriginValidator:
    """Refuses (HTTP 403 at the handshake) a websocket whose Origin is not one of ours."""

    def __init__(self, inner) -> None:
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if origin_allowed(scope):
            return await self.inner(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)


class WebsocketAuthMiddleware:
    def __init__(self, inner) -> None:
        self.inner = inner
        self.session_app = SameOriginValidator(AuthMiddlewareStack(inner))

    async def __call__(self, scope, receive, send):
        key = _token_key(scope)
        if key is not None:
            user = await _user_for_token(key)
            return await self.inner({**scope, "user": user}, receive, send)
        return await self.session_app(scope, receive, send)
