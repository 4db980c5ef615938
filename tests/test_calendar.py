"""Business-day calendars: read with the policy, deadlines on a non-business day move forward."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from clearline.engine import PolicyError, compile_policy, decide, load_policy
from clearline.engine.cases.lifecycle import CaseState, apply_event, case_event, open_case
from clearline.engine.policy.load import analyse_policy

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "policies" / "credit-line-closure" / "1.1.0.yaml"
D = dt.date.fromisoformat

# 2027-02-06 to 2027-02-14 is a made-up spring holiday; Sunday 2027-02-21 is a make-up working day.
CALENDAR = """\
weekend: [saturday, sunday]
non_business_days: [2027-02-08, 2027-02-09, 2027-02-10, 2027-02-11, 2027-02-12]
working_days: [2027-02-21]
"""
SPREE = {
    **dict(load_policy(SHIPPED).tests[0].facts),
    "high_apr_applications_7d": 2,
    "days_since_first_loan": 45,
    "prior_adverse_actions_12m": 1,
}


def with_calendar(
    tmp_path: Path, calendar: str | None = CALENDAR, name: str = "cn.calendar.yaml"
) -> Path:
    """A copy of the shipped policy that names a calendar file beside it."""
    text = SHIPPED.read_text("utf-8").replace(
        "  adverse_change_notice_days: 45\n",
        f"  adverse_change_notice_days: 45\n  calendar: {name}\n",
        1,
    )
    policy = tmp_path / "1.1.0.yaml"
    policy.write_text(text, "utf-8")
    if calendar is not None:
        (tmp_path / name).write_text(calendar, "utf-8")
    return policy


def test_deadlines_on_holidays_and_weekends_move_to_the_next_business_day(tmp_path: Path) -> None:
    compiled = compile_policy(load_policy(with_calendar(tmp_path)))
    calendar = compiled.policy.metadata.calendar
    assert calendar is not None and calendar.weekend == (6, 7)
    # Decided on 2027-01-24: 15 days later is Monday 2027-02-08, a holiday; the next business
    # day after the holiday week and its weekend is Monday 2027-02-15.
    timeline = decide(compiled, SPREE, "2027-01-24").timeline
    assert timeline is not None
    assert (timeline.effective, timeline.cure_until) == (D("2027-02-15"), D("2027-02-15"))
    # 30 days later is Tuesday 2027-02-23, a business day: unchanged.
    assert timeline.appeal_until == D("2027-02-23")
    # Decided 2027-02-06: 15 days later is Sunday 2027-02-21, a make-up working day: unchanged.
    moved = decide(compiled, SPREE, "2027-02-06").timeline
    assert moved is not None and moved.effective == D("2027-02-21")
    # Without the calendar the same decision takes effect on the holiday itself.
    plain = decide(compile_policy(load_policy(SHIPPED)), SPREE, "2027-01-24").timeline
    assert plain is not None and plain.effective == D("2027-02-08")


def test_the_calendar_is_part_of_the_policy_version(tmp_path: Path) -> None:
    first = compile_policy(load_policy(with_calendar(tmp_path)))
    (tmp_path / "cn.calendar.yaml").write_text(
        CALENDAR.replace("2027-02-12]", "2027-02-12, 2027-02-15]")
    )
    second = compile_policy(load_policy(tmp_path / "1.1.0.yaml"))
    assert first.sha256 != second.sha256
    timeline = decide(second, SPREE, "2027-01-24").timeline
    assert timeline is not None and timeline.effective == D("2027-02-16")


def test_a_case_review_deadline_follows_the_calendar(tmp_path: Path) -> None:
    compiled = compile_policy(load_policy(with_calendar(tmp_path)))
    tz = compiled.policy.metadata.timezone
    case = open_case(compiled, decide(compiled, SPREE, "2027-01-25"))
    case = apply_event(compiled, case, case_event("notice_sent", "2027-01-25", tz=tz))
    # Appeal on 2027-01-29: ten days later is 2027-02-08, inside the holiday week.
    case = apply_event(compiled, case, case_event("appeal_filed", "2027-01-29", tz=tz))
    assert case.state is CaseState.UNDER_REVIEW and case.review_until == D("2027-02-15")


def test_a_missing_calendar_file_is_a_located_error(tmp_path: Path) -> None:
    policy = with_calendar(tmp_path, calendar=None)
    result = analyse_policy(policy)
    assert result.policy is None
    [problem] = result.diagnostics
    line = policy.read_text("utf-8").splitlines().index("  calendar: cn.calendar.yaml") + 1
    assert (problem.code, problem.line, problem.column) == ("C160", line, 13)
    assert "cannot read calendar file `cn.calendar.yaml`" in problem.message


@pytest.mark.parametrize(
    ("calendar", "code", "line", "column", "message"),
    [
        ("weekend: [saturday, sundae]\n", "C161", 1, 21, "`sundae` is not a weekday name"),
        ("non_business_days:\n  - 2027-02-30\n", "C161", 2, 5, "is not a date"),
        ("holidays: [2027-01-01]\n", "C161", 1, 11, "unknown key `holidays`"),
        (
            "weekend: [monday, tuesday, wednesday, thursday, friday, saturday, sunday]\n",
            "C161",
            1,
            10,
            "every weekday",
        ),
        ("- 2027-01-01\n", "C161", 1, 1, "a calendar must be a mapping"),
        ("weekend: !!python/object:os.system ls\n", "E003", 1, 10, ""),
    ],
)
def test_a_bad_calendar_is_located_in_the_calendar_file(
    tmp_path: Path, calendar: str, code: str, line: int, column: int, message: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(with_calendar(tmp_path, calendar=calendar))
    [problem] = caught.value.diagnostics
    assert problem.file.endswith("cn.calendar.yaml")
    assert (problem.code, problem.line, problem.column) == (code, line, column)
    assert message in problem.message


def test_a_day_both_off_and_working_is_located_at_the_policy_calendar_key(
    tmp_path: Path,
) -> None:
    calendar = "non_business_days: [2027-02-21]\nworking_days: [2027-02-20, 2027-02-21]\n"
    policy = with_calendar(tmp_path, calendar=calendar)
    result = analyse_policy(policy)
    [problem] = [d for d in result.diagnostics if d.severity == "error"]
    line = policy.read_text("utf-8").splitlines().index("  calendar: cn.calendar.yaml") + 1
    assert (problem.code, problem.line, problem.column) == ("C196", line, 13)
    assert "2027-02-21 both as a non-business day and as a working day" in problem.message


def test_check_of_a_folder_skips_calendar_files(tmp_path: Path) -> None:
    with_calendar(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "clearline", "check", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "checked 1 polic" in result.stdout
