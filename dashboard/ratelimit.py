"""A fixed-window rate limit per user, shared by the pages and the API."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """'30/minute' -> (30, 60)."""
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period.strip()]


def allow(user, scope: str = "runs") -> tuple[bool, int]:
    """Count one request; returns (allowed, seconds until the window resets). A scope without a rate is free."""
    rate = settings.ARENA_RATE_LIMITS.get(scope)
    if not rate:
        return True, 0
    limit, period = parse_rate(rate)
    now = time.time()
    window = int(now // period)
    key = f"arena:rl:{scope}:{user.pk}:{window}"
    cache.add(key, 0, timeout=period + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=period + 1)
        count = 1
    return count <= limit, int((window + 1) * period - now) + 1
