"""The self-check page as a person uses it: real headless chromium (one start per module) fills
the form with the keyboard, reads the result panel and compares it with `decide()`; every "what
would change it" suggestion is re-decided in Python; the page makes no request."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clearline.engine import CompiledPolicy, decide
from clearline.engine.model import FactType
from tests.conftest import SHIPPED_V2, run_cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("chromium") is None or shutil.which("chromedriver") is None,
        reason="Debian chromium and chromium-driver are not installed (make chromium)",
    ),
]
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("selfcheck") / "selfcheck.html"
    # The policy marks the facts only the lender knows: no --lender-only needed.
    done = run_cli("selfcheck", str(SHIPPED_V2), "--lang", "en", "-o", str(out))
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1000,1400",
        f"--user-data-dir={tmp_path_factory.mktemp('profile')}",
    ):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    yield driver
    driver.quit()


def _typed(compiled: CompiledPolicy, name: str, value: Any) -> str:
    fact = compiled.policy.fact(name)
    assert fact is not None
    if fact.type is FactType.BOOLEAN:
        return "true" if value else "false"
    if fact.unit == "percent":
        return f"{value * 100:g}"
    return str(value)


def _fill(browser: Any, compiled: CompiledPolicy, facts: dict[str, Any]) -> None:
    form = browser.find_element(By.CSS_SELECTOR, "#page-en form.facts")
    for field in form.find_elements(By.CSS_SELECTOR, "[data-fact]"):
        name = field.get_attribute("data-fact")
        value = facts.get(name)
        if field.tag_name == "select":
            Select(field).select_by_value("" if value is None else _typed(compiled, name, value))
        else:
            field.clear()
            if value is not None:
                field.send_keys(_typed(compiled, name, value))
    form.find_elements(By.CSS_SELECTOR, "[data-fact]")[0].send_keys(Keys.ENTER)


ACCOUNTS: list[dict[str, Any]] = [
    {"credit_score": 720, "days_past_due": 0, "utilisation": 0.3},
    {"credit_score": 720, "days_past_due": 95, "declared_hardship": True},
    {"credit_score": 480, "days_past_due": 40, "delinquencies_12m": 1},
    {"credit_score": 700, "credit_score_drop_90d": 120, "utilisation": 0.95, "days_past_due": 3},
    {"credit_score": 650, "outflow_to_income_30d": 3.5, "prior_adverse_actions_12m": 0},
    {"credit_score": 690, "high_apr_applications_7d": 2, "days_since_first_loan": 20},
    {"days_past_due": 0},
]


@pytest.mark.parametrize("facts", ACCOUNTS, ids=range(len(ACCOUNTS)))
def test_result_panel_matches_decide(
    browser: Any, page: Path, shipped: CompiledPolicy, facts: dict[str, Any]
) -> None:
    browser.get(page.as_uri())
    _fill(browser, shipped, facts)
    panel = browser.find_element(By.CSS_SELECTOR, "#page-en .result-body")
    want = decide(shipped, facts, shipped.policy.metadata.effective_from)
    assert panel.get_attribute("data-action") == want.action.value
    shown = [r.get_attribute("data-rule") for r in panel.find_elements(By.CSS_SELECTOR, ".reason")]
    assert shown == [reason.rule for reason in want.reasons]
    for item in panel.find_elements(By.CSS_SELECTOR, "[data-value]"):
        changed = {
            **facts,
            item.get_attribute("data-fact"): json.loads(item.get_attribute("data-value")),
        }
        after = decide(shipped, changed, shipped.policy.metadata.effective_from)
        assert after.action.value == item.get_attribute("data-action")
        assert shipped.policy.outcome.rank(after.action) > shipped.policy.outcome.rank(want.action)
    # Nothing left the page: the only resource loaded is the page itself.
    requests = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert requests == []


def test_keyboard_switches_language_and_keeps_answers(browser: Any, page: Path) -> None:
    browser.get(page.as_uri())
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    score = browser.find_element(By.CSS_SELECTOR, "#page-en form [data-fact=credit_score]")
    score.send_keys("480")
    # Before the first question in tab order is the language switch; Enter on it switches.
    ActionChains(browser).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()
    active = browser.switch_to.active_element
    assert active.get_attribute("data-switch") == "zh-CN"
    active.send_keys(Keys.ENTER)
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "zh-CN"
    twin = browser.find_element(By.CSS_SELECTOR, "#page-zh-CN form [data-fact=credit_score]")
    assert twin.get_attribute("value") == "480"
    panel = browser.find_element(By.CSS_SELECTOR, "#page-zh-CN .result-body")
    assert panel.get_attribute("data-action") == "suspend"
    assert "暂停" in panel.text


def test_every_input_has_a_label(browser: Any, page: Path) -> None:
    browser.get(page.as_uri())
    unlabelled = browser.execute_script(
        "return [...document.querySelectorAll('input, select')]"
        ".filter(e => !e.labels || e.labels.length === 0).map(e => e.id)"
    )
    assert unlabelled == []
