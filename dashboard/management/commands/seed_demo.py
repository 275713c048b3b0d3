"""Create the demo team, user and example policies (idempotent)."""

from __future__ import annotations

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from dashboard.models import Membership, Policy, Team
from trainer import schedules

# LRs that train both demo workloads: LeNet on MNIST (SGD, momentum 0.9) diverges at 0.1.
DEMO_POLICIES = [
    ("Fixed 0.02", "A constant LR: the baseline every policy is compared with.", {"kind": "FIX", "k0": 0.02}),
    ("Step decay", "0.02, ×0.1 every 3 epochs.", {"kind": "STEP", "k0": 0.02, "gamma": 0.1, "l": 3}),
    (
        "Cosine 0.001–0.05",
        "Half a cosine from k1 down to k0 over 10 epochs.",
        {"kind": "COS", "k0": 0.001, "k1": 0.05, "l": 10},
    ),
    (
        "Triangle 0.005–0.05",
        "A cyclic LR with a half-cycle of 2 epochs.",
        {"kind": "TRI", "k0": 0.005, "k1": 0.05, "l": 2},
    ),
]


class Command(BaseCommand):
    help = "Create a demo team, a demo user (login printed) and example policies, if missing."

    def handle(self, *args, **options) -> None:
        username = os.environ.get("ARENA_DEMO_USER", "demo")
        password = os.environ.get("ARENA_DEMO_PASSWORD", "arena-demo")
        with transaction.atomic():
            team, _ = Team.objects.get_or_create(slug="demo", defaults={"name": "Demo team"})
            User = get_user_model()
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User.objects.create_user(username=username, password=password, is_staff=True)
                user.is_superuser = True
                user.save(update_fields=["is_superuser"])
                created_user = True
            else:
                created_user = False
            Membership.objects.get_or_create(user=user, team=team, defaults={"role": Membership.Role.ADMIN})
            for name, description, spec in DEMO_POLICIES:
                Policy.objects.get_or_create(
                    team=team,
                    name=name,
                    defaults={"spec": schedules.validate(spec), "description": description, "created_by": user},
                )
        if created_user:
            self.stdout.write(self.style.SUCCESS(f"Demo login: username {username!r}, password {password!r}"))
        else:
            self.stdout.write(f"Demo login: username {username!r} (password unchanged; default {password!r})")
