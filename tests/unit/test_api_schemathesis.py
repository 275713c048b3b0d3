"""The API fuzzed from its own OpenAPI schema: no 5xx, no response that breaks the schema.

A bounded number of generated requests per operation (derandomised, so a run
is repeatable), sent in-process to the Django app as an authenticated member.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.cache import cache
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error, response_schema_conformance

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = 25


def load_schema():
    from django.core.wsgi import get_wsgi_application

    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


def operation_labels() -> list[str]:
    return [result.ok().label for result in load_schema().get_all_operations()]


@pytest.fixture
def member_token(cast, step_policy):
    from dashboard.models import Run

    Run.objects.create(
        team=cast.team, policy=step_policy, policy_spec=step_policy.spec, workload="digits-mlp", epochs=2, seed=1
    )
    cache.clear()
    return Token.objects.create(user=cast.bob).key


@pytest.mark.parametrize("label", operation_labels())
def test_the_api_never_fails_and_keeps_to_its_schema(label, member_token, django_capture_on_commit_callbacks):
    operation = next(r.ok() for r in load_schema().get_all_operations() if r.ok().label == label)

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case):
        response = case.call(headers={"Authorization": f"Token {member_token}"})
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    with django_capture_on_commit_callbacks(execute=False):  # queued runs are stored, not trained
        check()
