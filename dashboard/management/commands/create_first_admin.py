"""Create the first superuser of a fresh deployment, from the environment or with a one-time password.

ARENA_ADMIN_USER names it (default "admin"); ARENA_ADMIN_PASSWORD sets its
password, else a random one is generated and printed once. Does nothing when
a superuser exists already, so the container's entry point runs it every start.
"""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the first superuser (ARENA_ADMIN_USER / ARENA_ADMIN_PASSWORD, else a printed one-time password)."

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        username = os.environ.get("ARENA_ADMIN_USER") or "admin"
        password = os.environ.get("ARENA_ADMIN_PASSWORD") or ""
        generated = not password
        if generated:
            password = secrets.token_urlsafe(18)
        User.objects.create_superuser(username=username, password=password)
        if generated:
            self.stdout.write(
                self.style.WARNING(
                    f"First superuser {username!r} created with the one-time password {password!r}: "
                    "sign in at /admin/ and change it now (it is not shown again)."
                )
            )
        else:
            self.stdout.write(self.style.SUCCESS(f"First superuser {username!r} created from ARENA_ADMIN_PASSWORD."))
