"""schemathesis against the OpenAPI 3.1 document a real server serves: for every operation,
generated requests (bounded) get answers that the document describes, and never a 5xx."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import POLICIES
from tests.service_process import ServiceProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    folder = tmp_path_factory.mktemp("openapi")
    shutil.copytree(POLICIES, folder / "policies")
    service = ServiceProcess(folder / "policies", folder / "audit.db")
    yield service
    code, err = service.stop()
    assert code == 0, err


def check_operation(url: str, strategy: st.SearchStrategy[Case], mode: GenerationMode) -> None:
    """A few generated requests to one operation; each answer must fit the document."""

    @settings(max_examples=5, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: Case) -> None:
        response = case.call(base_url=url)
        assert response.status_code < 500, (case.path, response.text)
        if mode is GenerationMode.POSITIVE or response.status_code < 400:
            # Schema-valid facts may still be refused on meaning (no version in force on a
            # generated as_of: V011), so "valid data is accepted" is not one of the checks.
            case.validate_response(response, excluded_checks=[positive_data_acceptance])

    try:
        run()
    except Unsatisfiable:
        # Nothing of the operation can be made invalid (no body, no parameters).
        assert mode is GenerationMode.NEGATIVE


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_get_documented_answers(
    server: ServiceProcess, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        if operation.path == "/v1/admin/reload":
            continue  # re-reads the folder: covered by test_service_admin
        check_operation(server.url, operation.as_strategy(generation_mode=mode), mode)
