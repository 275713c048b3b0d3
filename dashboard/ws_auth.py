"""Websocket authentication: an API token, or the session cookie from an allowed origin.

Cross-site websocket hijacking rides on the browser's ambient cookies, so a
connection that authenticates with its session must come from one of our own
origins. A connection that presents an API token (header
`Authorization: Token <key>`, or `?token=<key>` for clients that cannot set
headers) carries its credential explicitly and needs no Origin header.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import AllowedHostsOriginValidator
from django.contrib.auth.models import AnonymousUser


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


class WebsocketAuthMiddleware:
    def __init__(self, inner) -> None:
        self.inner = inner
        self.session_app = AllowedHostsOriginValidator(AuthMiddlewareStack(inner))

    async def __call__(self, scope, receive, send):
        key = _token_key(scope)
        if key is not None:
            user = await _user_for_token(key)
            return await self.inner({**scope, "user": user}, receive, send)
        return await self.session_app(scope, receive, send)
