"""Screenshots of the self-check page at 390 px and 1000 px wide, filled in for one account
(`make screenshot`; a person looks at them before a commit that changes the page).

    python -m tests.selfcheck_screenshots PAGE.html OUT_DIR
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from selenium.webdriver.common.by import By

from tests.browser import start_chromium

# A suspension for a low score: reasons, terms and a change that lifts it all show.
EXAMPLE = {"credit_score": "480", "days_past_due": "0", "delinquencies_12m": "1"}


def main(page: Path, out: Path) -> None:
    """Write selfcheck-390.png and selfcheck-1000.png to `out`."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        driver = start_chromium(Path(profile), "--hide-scrollbars")
        try:
            for width in (390, 1000):
                driver.set_window_size(width, 1200)
                driver.get(page.resolve().as_uri())
                for name, value in EXAMPLE.items():
                    field = driver.find_element(
                        By.CSS_SELECTOR, f"#page-en form [data-fact={name}]"
                    )
                    field.send_keys(value)
                driver.find_element(By.CSS_SELECTOR, "#page-en button.check").click()
                height = driver.execute_script("return document.documentElement.scrollHeight")
                driver.set_window_size(width, min(int(height) + 100, 6000))
                driver.execute_script("window.scrollTo(0, 0)")
                target = out / f"selfcheck-{width}.png"
                driver.save_screenshot(str(target))
                print(target)
        finally:
            driver.quit()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
