"""The decision service over HTTP, against one real server process (module-scoped): the same
bytes as decide(), the audit log behind every answer, problem documents for bad requests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from clearline.engine import AuditLog, CompiledPolicy, decide, sample_accounts
from clearline.engine.decisions.decide import to_instant
from tests.conftest import POLICIES
from tests.service_process import ServiceProcess

DECIDE = "/v1/policies/credit-line-closure/decide"
BATCH = "/v1/policies/credit-line-closure/decide-batch"
AS_OF = "2027-03-01"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    folder = tmp_path_factory.mktemp("service")
    shutil.copytree(POLICIES, folder / "policies")
    service = ServiceProcess(
        folder / "policies",
        folder / "audit.db",
        "--max-body",
        "20000",
        "--max-batch",
        "50",
        "--max-depth",
        "8",
    )
    yield service
    code, err = service.stop()
    assert code == 0, err


def test_same_bytes_as_decide_with_and_without_trace(
    server: ServiceProcess, shipped: CompiledPolicy
) -> None:
    accounts = list(sample_accounts(shipped.policy, 12, 3))
    instant = to_instant(AS_OF, shipped.policy.metadata.timezone)
    for n, account in enumerate(accounts):
        trace = n % 2 == 0
        body = {"account_id": account["account_id"], "facts": account["facts"], "as_of": AS_OF}
        answer = server.post(DECIDE + ("" if trace else "?trace=false"), body)
        assert answer.status_code == 200, answer.text
        expected = decide(
            shipped, account["facts"], instant, account_id=account["account_id"], trace=trace
        )
        assert answer.content == expected.to_json().encode()
        # ...and the audit log gives the very same record back.
        stored = server.client.get(f"/v1/decisions/{expected.decision_id}")
        assert stored.status_code == 200
        assert stored.content == answer.content


def test_batch_is_decided_and_recorded_whole(
    server: ServiceProcess, shipped: CompiledPolicy
) -> None:
    accounts = list(sample_accounts(shipped.policy, 5, 11))
    body = {"accounts": [{**a, "as_of": AS_OF} for a in accounts]}
    answer = server.post(BATCH, body)
    assert answer.status_code == 200, answer.text
    ids = [d["decision_id"] for d in answer.json()["decisions"]]
    assert len(ids) == 5
    with AuditLog(server.audit, create=False) as log:
        assert all(log.get(i) for i in ids)
        assert log.verify().problem is None
    # One bad account: nothing decided, every problem named with its place.
    broken = {"accounts": [body["accounts"][0], {"facts": {"days_past_due": -1}}]}
    refused = server.post(BATCH, broken)
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["code"] == "F003"
    assert problem["errors"][0]["pointer"] == "/accounts/1/facts/days_past_due"


def test_input_problems_carry_the_cli_codes(server: ServiceProcess) -> None:
    cases = [
        ({"facts": {"days_pst_due": 3}}, 422, "F001", "did you mean `days_past_due`"),
        ({"facts": {"days_past_due": "many"}}, 422, "F003", "expected an integer"),
        ({"facts": {}, "extra": 1}, 422, "F004", "unknown key `extra`"),
        ({"facts": {}, "as_of": "yesterday"}, 422, "F006", "yesterday"),
        ({"facts": {}, "as_of": "2020-01-01"}, 422, "V011", "no version of"),
        ([1, 2], 422, "F000", "each input must be a JSON object"),
        ({"account_id": "A"}, 422, "F004", "`facts` is missing"),
    ]
    for body, status, code, words in cases:
        answer = server.post(DECIDE, body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        assert (problem["code"], problem["status"]) == (code, status)
        assert words in answer.text
        assert "Traceback" not in answer.text


def test_limits_answer_problem_documents(server: ServiceProcess) -> None:
    def send(content: bytes, media: str = "application/json") -> tuple[int, str]:
        answer = server.client.post(DECIDE, content=content, headers={"content-type": media})
        return answer.status_code, answer.json()["code"]

    assert send(b'{"facts": {') == (400, "F005")
    assert send(b'{"facts": {"days_past_due": NaN}}') == (400, "F005")
    # The CLI's reader and codes: a duplicate key is refused, never resolved last-wins; depth is
    # counted on the bytes before parsing; bytes that are not UTF-8 are refused.
    assert send(b'{"facts": {"days_past_due": 1, "days_past_due": 95}}') == (400, "F013")
    assert send(b'{"facts": ' + b"[" * 5000 + b"]" * 5000 + b"}") == (400, "F012")
    assert send(b'{"facts": {"segment": "\xff"}}') == (400, "F010")
    assert send(b"{}", "text/plain") == (415, "H004")
    assert send(b'{"facts": {"x": ' + b"[" * 20 + b"]" * 20 + b"}}") == (400, "H005")
    assert send(b'{"facts": {}, "account_id": "' + b"a" * 30000 + b'"}') == (413, "H003")
    many = {"accounts": [{"facts": {}}] * 51}
    answer = server.post(BATCH, many)
    assert (answer.status_code, answer.json()["code"]) == (413, "H006")
    assert server.post("/v1/policies/nope/decide", {"facts": {}}).json()["code"] == "V010"
    assert server.client.get("/v1/nothing").json()["code"] == "H007"
    maybe = server.post(DECIDE + "?trace=maybe", {"facts": {}})
    assert (maybe.status_code, maybe.json()["code"]) == (400, "H010")
    assert server.client.delete(DECIDE).json()["code"] == "H008"
    assert server.client.get("/v1/decisions/0123456789abcdef").json()["code"] == "A002"


def test_documents_from_the_log_and_the_registry(server: ServiceProcess) -> None:
    facts = {"days_past_due": 120, "credit_score": 500}
    decision = server.post(DECIDE, {"account_id": "N1", "facts": facts, "as_of": AS_OF}).json()
    notice = server.client.get(f"/v1/decisions/{decision['decision_id']}/notice?lang=en")
    assert notice.status_code == 200
    assert notice.headers["content-type"].startswith("text/markdown")
    assert "N1" in notice.text
    html = server.client.get(f"/v1/decisions/{decision['decision_id']}/notice?format=html")
    assert html.text.startswith("<!DOCTYPE html>")
    wrong = server.client.get(f"/v1/decisions/{decision['decision_id']}/notice?lang=fr")
    assert (wrong.status_code, wrong.json()["code"]) == (400, "D102")
    pdf = server.client.get(f"/v1/decisions/{decision['decision_id']}/notice?format=pdf")
    assert (pdf.status_code, pdf.json()["code"]) == (400, "H010")
    listed = server.client.get("/v1/policies").json()["policies"]
    assert [v["version"] for v in listed[0]["versions"]] == ["1.0.0", "1.1.0"]
    version = server.client.get("/v1/policies/credit-line-closure/versions/1.1.0").json()
    assert version["facts"]["properties"]["days_past_due"]
    disclosure = server.client.get(
        "/v1/policies/credit-line-closure/versions/1.1.0/disclosure?lang=en"
    )
    assert disclosure.status_code == 200 and disclosure.text.startswith("#")


def test_health_readiness_metrics_and_openapi(server: ServiceProcess) -> None:
    assert server.client.get("/healthz").json() == {"status": "ok"}
    assert server.client.get("/readyz").json()["status"] == "ready"
    server.post(DECIDE, {"facts": {"days_past_due": 200}, "as_of": AS_OF})
    server.post(DECIDE, {"facts": {"days_past_due": "x"}})
    text = server.client.get("/metrics").text
    assert (
        'clearline_decisions_total{action="close",policy="credit-line-closure",version="1.1.0"}'
        in text
    )
    assert 'clearline_errors_total{code="F003"}' in text
    assert "clearline_audit_batch_records_bucket" in text
    assert 'clearline_request_seconds_bucket{le="0.001",route="decide"}' in text
    document = server.client.get("/v1/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    assert DECIDE in document["paths"]
    facts = document["components"]["schemas"]["Facts-credit-line-closure-1.1.0"]
    assert facts["additionalProperties"] is False
