"""Property-based checks of every documented operation against our own OpenAPI document.

Generated requests (valid and invalid) go through the real app in-process with a valid token of a
non-admin user, on the throwaway demo database of this test session (generated DELETEs must never meet
data anyone cares about): no answer may be a server error, every status code must be one the document
declares, and a documented response must match its schema.

``CRM_COPILOT_SCHEMATHESIS_EXAMPLES`` raises the examples per operation (default 10) for a longer run;
``-s`` prints the tally (cases, status codes, undocumented codes, 5xx).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from copilot.api.app import create_app
from copilot.service.runtime import Runtime

EXAMPLES = int(os.environ.get("CRM_COPILOT_SCHEMATHESIS_EXAMPLES", "10"))
# The OpenAPI document does not depend on data, so the app can be built at import; the demo runtime is
# put under it before the first generated request (below).
APP = create_app(Runtime(), warm_up=False)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
TALLY: Counter[str] = Counter()


@pytest.fixture(autouse=True)
def _demo_data(demo_runtime: Runtime) -> None:
    APP.state.runtime = demo_runtime
    # Build the skill router (embeds every example utterance) now, not inside a request's 10 s timeout.
    _ = demo_runtime.assistant.router


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    statuses = {k: v for k, v in sorted(TALLY.items()) if k.isdigit()}
    print(f"\nschemathesis: {TALLY['cases']} cases, statuses {statuses}, undocumented {TALLY['undocumented']}, "
          f"5xx {TALLY['5xx']}; {TALLY['method probes']} probes with an undeclared method (405 + Allow)")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_documented_shapes(case: schemathesis.Case, token_for: Callable[[str], str]) -> None:
    # A real non-admin user's token, so generated requests get past authentication and reach the handlers.
    response = case.call(headers={"Authorization": f"Bearer {token_for('sales_mgr_east')}"})
    if case.method.upper() != case.operation.method.upper():
        # schemathesis's probe with a method the path does not have: 405 with an Allow header is the answer.
        TALLY["method probes"] += 1
        assert response.status_code == 405 and response.headers.get("allow"), (case.method, case.path)
        return
    TALLY["cases"] += 1
    TALLY[str(response.status_code)] += 1
    if str(response.status_code) not in case.operation.definition.raw.get("responses", {}):
        TALLY["undocumented"] += 1
    if response.status_code >= 500:
        TALLY["5xx"] += 1
    case.validate_response(
        response, checks=[not_a_server_error, status_code_conformance, response_schema_conformance]
    )
