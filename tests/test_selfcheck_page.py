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

from clearline.disclosures.recourse import recourse_for
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

from tests.browser import start_chromium  # noqa: E402

LENDER_ONLY = ("confirmed_fraud", "segment")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("selfcheck") / "selfcheck.html"
    # The policy marks the facts only the lender knows: no --lender-only needed.
    done = run_cli("selfcheck", str(SHIPPED_V2), "--lang", "en", "-o", str(out))
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = start_chromium(tmp_path_factory.mktemp("profile"), "--window-size=1000,1400")
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


def _fill(browser: Any, compiled: CompiledPolicy, facts: dict[str, Any], lang: str = "en") -> None:
    form = browser.find_element(By.CSS_SELECTOR, f"#page-{lang} form.facts")
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
    # "What would change it" is the notices' recourse: the same facts, the same values.
    change = {
        item.get_attribute("data-fact"): json.loads(item.get_attribute("data-value"))
        for item in panel.find_elements(By.CSS_SELECTOR, "[data-value]")
    }
    found = recourse_for(shipped, want)
    if found is not None and found.values and not set(found.values) & set(LENDER_ONLY):
        assert change == dict(found.values)
    elif found is not None and found.blocked:
        assert change == {} and "removes the reason" in panel.text
    else:
        assert change == {}
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


def _luminance(rgb: tuple[float, ...]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _rgb(css: str) -> tuple[float, ...]:
    parts = css[css.index("(") + 1 : css.index(")")].replace("/", ",").split(",")
    return tuple(float(p) for p in parts)


# The background each text element sits on: the nearest ancestor (or itself) with an opaque one.
_COLOURS = """
const out = [];
for (const e of document.querySelectorAll('.page:not([hidden]) *')) {
  const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  if (!own || e.offsetParent === null) continue;
  let b = e, bg = 'rgba(0, 0, 0, 0)';
  while (b) {
    bg = getComputedStyle(b).backgroundColor;
    if (!bg.startsWith('rgba') || !bg.endsWith(', 0)')) break;
    b = b.parentElement;
  }
  out.push([e.tagName + '.' + e.className, getComputedStyle(e).color, bg]);
}
return out;
"""


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_text_contrast_is_at_least_4_5(
    browser: Any, page: Path, shipped: CompiledPolicy, lang: str
) -> None:
    browser.get(page.as_uri())
    if lang != "en":
        browser.find_element(By.CSS_SELECTOR, "#page-en .switch").send_keys(Keys.ENTER)
    _fill(browser, shipped, {"credit_score": 480, "days_past_due": 40}, lang)
    seen = browser.execute_script(_COLOURS)
    assert len(seen) > 20
    for where, colour, background in seen:
        fg, bg = _luminance(_rgb(colour)), _luminance(_rgb(background))
        ratio = (max(fg, bg) + 0.05) / (min(fg, bg) + 0.05)
        assert ratio >= 4.5, (where, colour, background, round(ratio, 2))


def test_lang_is_set_and_follows_the_switch(browser: Any, page: Path) -> None:
    browser.get(page.as_uri())
    html = browser.find_element(By.TAG_NAME, "html")
    assert html.get_attribute("lang") == "en"
    assert browser.find_element(By.ID, "page-zh-CN").get_attribute("lang") == "zh-CN"
    browser.find_element(By.CSS_SELECTOR, "#page-en .switch").send_keys(Keys.ENTER)
    assert html.get_attribute("lang") == "zh-CN"
    browser.find_element(By.CSS_SELECTOR, "#page-zh-CN .switch").send_keys(Keys.ENTER)
    assert html.get_attribute("lang") == "en"


def test_the_form_works_by_keyboard_alone(
    browser: Any, page: Path, shipped: CompiledPolicy
) -> None:
    browser.get(page.as_uri())
    # Nothing is focused after loading: the first Tab goes to the first control on the page.
    # Tab from the top: the switch, then each question in order, then the check button.
    order = []
    for _ in range(40):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        active = browser.switch_to.active_element
        order.append(active.get_attribute("data-fact") or active.get_attribute("class"))
        if active.get_attribute("data-fact") == "credit_score":
            active.send_keys("480")
        if active.get_attribute("data-fact") == "days_past_due":
            active.send_keys("40")
        if active.get_attribute("class") == "check":
            active.send_keys(Keys.ENTER)
            break
    assert order[0] == "switch" and order[-1] == "check"
    panel = browser.find_element(By.CSS_SELECTOR, "#page-en .result-body")
    want = decide(
        shipped, {"credit_score": 480, "days_past_due": 40}, shipped.policy.metadata.effective_from
    )
    assert panel.get_attribute("data-action") == want.action.value
