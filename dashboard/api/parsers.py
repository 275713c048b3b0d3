"""The API's JSON parser: a body too large is a 413 and JSON nested too deeply a 400, both in the API's format.

Python's json module recurses once per level of nesting: a body nested a few
thousand levels deep raised RecursionError (a 500). Nothing the API accepts
nests deeper than a few levels (a spec nests at most 3 policies), so a depth
far above that is refused before anything walks the data.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import exceptions, parsers, status
from rest_framework.utils import json

MAX_DEPTH = 32


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "request_too_large"


def too_large_message(limit: int) -> str:
    return f"Request body too large: at most {limit} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE)."


def depth(value) -> int:
    """How deeply lists and objects nest in ``value``, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in item if isinstance(child, dict | list))
    return deepest


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(raw) > limit:
            raise RequestTooLarge(too_large_message(limit))
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.loads(raw.decode(encoding), parse_constant=json.strict_constant if self.strict else None)
        except RecursionError:
            raise exceptions.ParseError(f"JSON parse error - nested more than {MAX_DEPTH} levels deep.") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        if depth(data) > MAX_DEPTH:
            raise exceptions.ParseError(f"JSON parse error - nested more than {MAX_DEPTH} levels deep.")
        return data
