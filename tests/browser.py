"""Debian's headless chromium through selenium, started the one way that works on these machines
(no sandbox as root, no background networking on a closed network, a fresh profile)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from selenium import webdriver

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def start_chromium(profile: Path, *extra: str) -> Any:
    """A chromium driver with a profile folder of its own and any `extra` flags."""
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for flag in (*FLAGS, *extra, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    return webdriver.Chrome(options=options, service=service)
