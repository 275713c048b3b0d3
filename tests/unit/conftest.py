"""The cast for dashboard tests: a team with an admin, a member and a viewer,
and an outsider in another team. Channel layers are in memory here; the
integration tests use a real Redis."""

from __future__ import annotations

import pytest

IN_MEMORY_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The cast's passwords are hashed once per test; the real hasher costs ~0.4 s each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_rate_limit_counters():
    # Rate-limit and sign-in counters live in the cache; a test starts with none of them.
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def checkpoints_in_tmp(settings, tmp_path):
    settings.CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.STORAGES = {
        **settings.STORAGES,
        "checkpoints": {**settings.STORAGES["checkpoints"], "OPTIONS": {"location": str(tmp_path / "store")}},
    }


@pytest.fixture(autouse=True)
def in_memory_channel_layer(settings):
    settings.CHANNEL_LAYERS = IN_MEMORY_LAYERS
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def one_cpu_thread():
    """One intra-op thread: two cores are shared with other processes, and one thread is the fastest there."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def cast(db):
    from django.contrib.auth import get_user_model

    from dashboard.models import Membership, Team

    User = get_user_model()
    team = Team.objects.create(name="Vision", slug="vision")
    other = Team.objects.create(name="Speech", slug="speech")
    people = {}
    for name, role, member_of in [
        ("alice", Membership.Role.ADMIN, team),
        ("bob", Membership.Role.MEMBER, team),
        ("carol", Membership.Role.VIEWER, team),
        ("oscar", Membership.Role.ADMIN, other),
    ]:
        user = User.objects.create_user(username=name, password=f"{name}-pass-123")
        Membership.objects.create(user=user, team=member_of, role=role)
        people[name] = user
    return type("Cast", (), {"team": team, "other_team": other, **people})


@pytest.fixture
def step_policy(cast):
    from dashboard.models import Policy

    return Policy.objects.create(
        team=cast.team, name="Step", spec={"kind": "STEP", "k0": 0.1, "gamma": 0.1, "l": 3}, created_by=cast.alice
    )


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()
