"""Debian's Chromium driven by selenium, headless, for the browser tests (.ci/run
installs chromium and chromium-driver; outside CI a test without them skips)."""

from __future__ import annotations

import os
import shutil

import pytest


def browser(width: int = 1366, height: int = 768):
    if shutil.which("chromium") is None or shutil.which("chromedriver") is None:
        reason = "chromium or chromium-driver not installed (.ci/run installs both)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--no-first-run",
                "--disable-background-networking"):  # fmt: skip
        options.add_argument(arg)
    os.environ.setdefault("SE_OFFLINE", "true")  # never let selenium fetch a driver
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(30)
    return driver
