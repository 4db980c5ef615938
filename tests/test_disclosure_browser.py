"""The golden disclosure pages in real headless chromium (one start for the module): at phone
and desktop widths nothing overflows sideways and no Markdown syntax is visible."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.disclosure_fixtures import GOLDEN, LANGS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("chromium") is None or shutil.which("chromedriver") is None,
        reason="Debian chromium and chromium-driver are not installed (make chromium)",
    ),
]
webdriver = pytest.importorskip("selenium.webdriver")
from tests.browser import start_chromium  # noqa: E402

WIDTHS = (390, 1000)
PAGES = [f"{kind}.{lang}.html" for kind in ("disclosure", "notice-closed") for lang in LANGS]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = start_chromium(tmp_path_factory.mktemp("profile"), "--hide-scrollbars")
    yield driver
    driver.quit()


def _open(browser: Any, page: Path, width: int) -> int:
    """Load `page` in a viewport `width` CSS pixels wide; the viewport width reached."""
    browser.set_window_size(width, 900)
    inner = int(browser.execute_script("return window.innerWidth"))
    browser.set_window_size(2 * width - inner, 900)  # the window's frame is not the viewport
    browser.get(page.as_uri())
    return int(browser.execute_script("return window.innerWidth"))


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", PAGES)
def test_golden_page_fits_and_shows_no_markdown(browser: Any, name: str, width: int) -> None:
    viewport = _open(browser, GOLDEN / name, width)
    assert viewport == width
    scroll = browser.execute_script("return document.documentElement.scrollWidth")
    assert scroll <= viewport, f"{name} is {scroll} px wide at {viewport} px"
    text = browser.execute_script("return document.body.innerText")
    assert len(text) > 500  # the page rendered
    for syntax in ("**", "](", "\\_", "\\.", "__"):
        assert syntax not in text, (name, syntax)
