"""Middleware of the API's own: a body over the upload limit is a 413 in the API's JSON error format."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin

from dashboard.api.parsers import too_large_message


class ApiBodyLimitMiddleware(MiddlewareMixin):
    """Answers 413 before anything reads an /api/ body longer than DATA_UPLOAD_MAX_MEMORY_SIZE.

    Django itself would raise RequestDataTooBig (an HTML 400) when a form or
    the CSRF check reads it. DRF reads no body without a Content-Length, and
    the API's JSON parser stops at the limit too (dashboard/api/parsers.py).
    """

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and request.path_info.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return JsonResponse({"detail": "Content-Length must be a whole number of bytes."}, status=400)
            if length > limit:
                return JsonResponse({"detail": too_large_message(limit)}, status=413)
        return None
