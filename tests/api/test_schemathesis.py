"""Property-based checks of every documented operation against our own OpenAPI document.

Generated requests (valid and invalid) go through the real app in-process with a valid token: no
answer may be a server error, and a documented response must match its schema.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from copilot.api.app import create_app
from copilot.service.runtime import Runtime

# The OpenAPI document does not depend on data, so the app can be built at import; the demo runtime is
# put under it before the first generated request (below).
APP = create_app(Runtime())
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(autouse=True)
def _demo_data(demo_runtime: Runtime) -> None:
    APP.state.runtime = demo_runtime
    # Build the skill router (embeds every example utterance) now, not inside a request's 10 s timeout.
    _ = demo_runtime.assistant.router


@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_documented_shapes(case: schemathesis.Case, token_for: Callable[[str], str]) -> None:
    # A real user's token, so generated requests get past authentication and reach the handlers.
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token_for('sales_mgr_east')}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
