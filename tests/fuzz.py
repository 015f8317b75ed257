"""The schema fuzzer of the fuzz test (tests/api/test_openapi_fuzz.py) and of `make torture`.

`fuzz(base_url, token, examples=N, seed=S)` loads the server's `/openapi.json` with Schemathesis and, for
every operation, sends N generated requests (valid and invalid input mixed) with the caller's token,
checking each answer: no 5xx, a declared status, its content type, its headers, a body valid for the
schema. It runs Schemathesis' strategies under Hypothesis directly rather than through its pytest
plugin. A failure is not shrunk (the report says what was sent); each operation stops at its first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@dataclass
class FuzzReport:
    operations: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)


def fuzz(
    base_url: str,
    token: str,
    *,
    examples: int,
    seed: int,
    skip: Callable[[Any], bool] = lambda case: False,
) -> FuzzReport:
    """Fuzz every operation of the server at `base_url`; `skip(case)` leaves a generated case out."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    report = FuzzReport()
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {token}"
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                report.failures.append(f"the document has an invalid operation: {result.err()}")
                continue
            operation = result.ok()
            report.operations.append(operation.label)
            failure = _fuzz_operation(operation, base_url, session, report, examples, seed, skip)
            if failure is not None:
                report.failures.append(f"{operation.label}: {failure}")
    return report


def _fuzz_operation(
    operation: Any,
    base_url: str,
    session: requests.Session,
    report: FuzzReport,
    examples: int,
    seed: int,
    skip: Callable[[Any], bool],
) -> str | None:
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
    )

    @hypothesis.seed(seed)
    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
        print_blob=False,
    )
    @hypothesis.given(case=strategy)
    def run(case: Any) -> None:
        if skip(case):
            return
        response = case.call(base_url=base_url, session=session, timeout=30)
        report.statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:  # failed checks, with what was sent and came back
        return str(exc)
    return None
