"""Policy versions in force: content hashes, effective ranges at their boundaries, refusals."""

from __future__ import annotations

import datetime as dt
import random
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearline.engine import PolicyError, load_policy_text
from clearline.engine.canonical import policy_sha256
from clearline.engine.policy.source import read_yaml
from clearline.engine.versions import NotInForce, PolicyRegistry, UnknownPolicy

from .conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "policies" / "credit-line-closure"
V100 = (SHIPPED / "1.0.0.yaml").read_text(encoding="utf-8")
V110 = (SHIPPED / "1.1.0.yaml").read_text(encoding="utf-8")
ID = "credit-line-closure"
# The shipped policies switch at midnight 2027-01-15 in Asia/Shanghai (UTC+8).
SWITCH = dt.datetime(2027, 1, 14, 16, 0, 0, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)


def edit(text: str, **metadata: str | None) -> str:
    """The policy text with metadata lines replaced (None removes the line)."""
    for key, value in metadata.items():
        pattern = re.compile(rf"^  {key}: .*\n", re.MULTILINE)
        line = "" if value is None else f"  {key}: {value}\n"
        if pattern.search(text):
            text = pattern.sub(line, text, count=1)
        else:
            text = text.replace("  effective_from:", f"{line}  effective_from:", 1)
    return text


def folder(tmp_path: Path, **files: str) -> Path:
    target = tmp_path / "policies"
    target.mkdir()
    for name, text in files.items():
        (target / f"{name}.yaml").write_text(text, encoding="utf-8")
    return target


def line_of(path: Path, key: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip().startswith(f"{key}:"):
            return number
    raise AssertionError(key)


@pytest.fixture(scope="module")
def shipped_registry() -> PolicyRegistry:
    return PolicyRegistry.load(SHIPPED)


def test_shipped_versions_are_indexed_by_id_version_and_hash(
    shipped_registry: PolicyRegistry,
) -> None:
    versions = shipped_registry.versions(ID)
    assert [v.version for v in versions] == ["1.0.0", "1.1.0"]
    for version in versions:
        assert shipped_registry.by_hash(version.sha256) is version
        assert shipped_registry.get(ID, version.version) is version
        assert version.compiled.sha256 == version.sha256
    assert versions[0].sha256 != versions[1].sha256


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (SWITCH - SECOND, "1.0.0"),
        (SWITCH, "1.1.0"),
        (SWITCH + SECOND, "1.1.0"),
        (dt.datetime(2025, 12, 31, 16, 0, 0, tzinfo=dt.UTC), "1.0.0"),  # 1.0.0's first instant
        (dt.datetime(2040, 1, 1, tzinfo=dt.UTC), "1.1.0"),  # open-ended
    ],
)
def test_in_force_at_the_boundaries(
    shipped_registry: PolicyRegistry, moment: dt.datetime, expected: str
) -> None:
    assert shipped_registry.in_force(ID, moment).version == expected


def test_nothing_in_force_before_the_first_version(shipped_registry: PolicyRegistry) -> None:
    first = dt.datetime(2025, 12, 31, 16, 0, 0, tzinfo=dt.UTC)
    with pytest.raises(NotInForce, match="no version of `credit-line-closure` is in force"):
        shipped_registry.in_force(ID, first - SECOND)
    with pytest.raises(UnknownPolicy):
        shipped_registry.in_force("no-such-policy", first)


def test_a_bare_date_is_midnight_in_the_policy_time_zone(shipped_registry: PolicyRegistry) -> None:
    assert shipped_registry.in_force(ID, "2027-01-15").version == "1.1.0"
    assert shipped_registry.in_force(ID, dt.date(2027, 1, 14)).version == "1.0.0"
    assert shipped_registry.in_force(ID, "2027-01-14T23:59:59+08:00").version == "1.0.0"


def test_decide_by_policy_id_picks_the_version_in_force(shipped_registry: PolicyRegistry) -> None:
    facts = {"credit_score": 700, "days_past_due": 0}
    before = shipped_registry.decide(ID, facts, SWITCH - SECOND, account_id="A1")
    after = shipped_registry.decide(ID, facts, SWITCH, account_id="A1")
    assert before.to_dict()["policy"]["version"] == "1.0.0"
    assert after.to_dict()["policy"]["version"] == "1.1.0"
    assert after.to_dict()["policy"]["sha256"] == shipped_registry.get(ID, "1.1.0").sha256  # type: ignore[union-attr]


def test_an_open_ended_version_ends_where_the_next_begins(tmp_path: Path) -> None:
    old = edit(V100, effective_until=None)
    registry = PolicyRegistry.load(folder(tmp_path, a=old, b=V110))
    assert registry.in_force(ID, SWITCH - SECOND).version == "1.0.0"
    assert registry.in_force(ID, SWITCH).version == "1.1.0"
    assert registry.versions(ID)[0].effective_until == registry.versions(ID)[1].effective_from


def test_a_gap_between_versions_has_nothing_in_force(tmp_path: Path) -> None:
    old = edit(V100, effective_until="2027-01-10")
    registry = PolicyRegistry.load(folder(tmp_path, a=old, b=V110))
    with pytest.raises(NotInForce):
        registry.in_force(ID, "2027-01-12")
    assert registry.in_force(ID, "2027-01-09").version == "1.0.0"


def _refused(tmp_path: Path, code: str, **files: str) -> tuple[Path, list[str]]:
    target = folder(tmp_path, **files)
    registry, diagnostics = PolicyRegistry.analyse([target])
    assert registry is None
    rendered = [d.render() for d in diagnostics if d.severity == "error"]
    assert any(f"error[{code}]" in line for line in rendered), rendered
    with pytest.raises(PolicyError):
        PolicyRegistry.load(target)
    return target, rendered


def test_refuses_overlapping_ranges(tmp_path: Path) -> None:
    old = edit(V100, effective_until="2027-02-01")
    target, rendered = _refused(tmp_path, "V004", a=old, b=V110)
    line = line_of(target / "b.yaml", "effective_from")
    assert any(f"b.yaml:{line}:" in r and "error[V004]" in r for r in rendered)
    assert any("overlap" in r for r in rendered)


def test_refuses_same_version_with_different_content(tmp_path: Path) -> None:
    # a rule without its own text: a threshold named in a text must change with it (C123)
    changed = V110.replace("between: [31, 90]", "between: [31, 89]")
    assert changed != V110
    _, rendered = _refused(tmp_path, "V002", a=V110, b=changed)
    assert any("different content" in r for r in rendered)


def test_accepts_an_identical_copy_with_a_warning(tmp_path: Path) -> None:
    registry, diagnostics = PolicyRegistry.analyse([folder(tmp_path, a=V110, b=V110)])
    assert registry is not None
    # The shipped 1.1.0's own warning (W002: thin-file-low-score never decides) aside.
    versions = [d for d in diagnostics if d.code != "W002"]
    assert [d.code for d in versions] == ["V001"]
    assert [d.severity for d in versions] == ["warning"]


def test_refuses_a_version_that_goes_back_in_time(tmp_path: Path) -> None:
    newer = edit(V110, effective_from="2025-06-01")
    _, rendered = _refused(tmp_path, "V003", a=V100, b=newer)
    assert any("back in time" in r for r in rendered)


def test_refuses_the_whole_folder_when_one_file_is_invalid(tmp_path: Path) -> None:
    broken = V110.replace("version: 1.1.0", "version: 1.2.0").replace("lt: 500", "lt: banana")
    registry, diagnostics = PolicyRegistry.analyse([folder(tmp_path, a=V100, b=V110, c=broken)])
    assert registry is None
    assert any(d.file.endswith("c.yaml") for d in diagnostics)


def test_cli_replay_reports_an_inconsistent_folder(tmp_path: Path) -> None:
    target = folder(tmp_path, a=edit(V100, effective_until="2027-02-01"), b=V110)
    db = tmp_path / "audit.db"
    from clearline.engine.audit.log import AuditLog

    AuditLog(db).close()
    run = run_cli("audit", "replay", str(db), "--policies", str(target))
    assert run.returncode == 1
    assert "error[V004]" in run.stderr
    assert "Traceback" not in run.stderr


# -- content hash ---------------------------------------------------------------------------


def _shuffled(data: Any, rnd: random.Random) -> Any:
    """The same data with every mapping's keys in a random order (lists keep their order)."""
    if isinstance(data, dict):
        keys = list(data)
        rnd.shuffle(keys)
        return {key: _shuffled(data[key], rnd) for key in keys}
    if isinstance(data, list):
        return [_shuffled(item, rnd) for item in data]
    return data


BASE_DATA = read_yaml(V110, "1.1.0.yaml").data
BASE_HASH = policy_sha256(load_policy_text(V110))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rnd=st.randoms(use_true_random=False),
    flow=st.booleans(),
    indent=st.integers(min_value=2, max_value=6),
    width=st.integers(min_value=40, max_value=200),
)
def test_hash_is_stable_under_layout_and_key_order(
    rnd: random.Random, flow: bool, indent: int, width: int
) -> None:
    text = yaml.safe_dump(
        _shuffled(BASE_DATA, rnd),
        default_flow_style=flow,
        indent=indent,
        width=width,
        allow_unicode=rnd.random() < 0.5,
        sort_keys=False,
    )
    assert text != V110
    assert policy_sha256(load_policy_text(text)) == BASE_HASH


def _rules(data: dict[str, Any]) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = data["rules"]
    return rules


def _rule(data: dict[str, Any], rule_id: str) -> dict[str, Any]:
    return next(rule for rule in _rules(data) if rule["id"] == rule_id)


MUTATIONS = [
    ("threshold", lambda d: _rule(d, "serious-delinquency")["when"].update({"between": [31, 89]})),
    ("reason code", lambda d: _rules(d)[0]["reason"].update({"code": "F99"})),
    ("customer text", lambda d: _rules(d)[0]["reason"]["text"].update({"en": "Changed."})),
    ("rule order", lambda d: _rules(d).insert(0, _rules(d).pop(1))),
    ("grace days", lambda d: d["grace"]["closure"]["cure"].update({"days": 61})),
    ("fact range", lambda d: d["facts"]["credit_score"].update({"maximum": 901})),
    ("version", lambda d: d["metadata"].update({"version": "1.1.1"})),
    ("effective date", lambda d: d["metadata"].update({"effective_from": "2027-01-16"})),
    (
        "precedence",
        lambda d: d["outcome"].update(
            {"precedence": ["close", "suspend", "review", "reduce_limit", "notify"]}
        ),
    ),
]


@settings(max_examples=18, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutation=st.sampled_from(MUTATIONS), rnd=st.randoms(use_true_random=False))
def test_any_semantic_change_changes_the_hash(mutation: Any, rnd: random.Random) -> None:
    data = _shuffled(BASE_DATA, rnd)
    mutation[1](data)
    changed = load_policy_text(yaml.safe_dump(data, sort_keys=False))
    assert policy_sha256(changed) != BASE_HASH, mutation[0]


def test_a_folder_copy_keeps_every_hash(tmp_path: Path, shipped_registry: PolicyRegistry) -> None:
    shutil.copytree(SHIPPED, tmp_path / "copy")
    copy = PolicyRegistry.load(tmp_path / "copy")
    assert [v.sha256 for v in copy] == [v.sha256 for v in shipped_registry]


def test_check_refuses_an_inconsistent_folder(tmp_path: Path) -> None:
    target = folder(tmp_path, a=edit(V100, effective_until="2027-02-01"), b=V110)
    run = run_cli("check", str(target))
    assert run.returncode == 1
    line = line_of(target / "b.yaml", "effective_from")
    assert f"b.yaml:{line}:" in run.stderr and "error[V004]" in run.stderr
    assert run_cli("check", str(SHIPPED)).returncode == 0


def test_a_folder_without_policy_files_is_one_error(tmp_path: Path) -> None:
    _, diagnostics = PolicyRegistry.analyse([tmp_path])
    [problem] = diagnostics
    assert (problem.code, problem.line, problem.column) == ("V000", 1, 1)
    assert problem.message == "no policy files found"
