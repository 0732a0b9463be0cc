"""A real headless Chromium (Debian's, which `make test` installs) for the pages the project writes:
they must open from disk, offline, without a JavaScript error."""

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest


@contextlib.contextmanager
def browser() -> Iterator:
    """The browser, quit at the block's end. Its temporary files go to a folder of its own, removed
    then: Chromium leaves a folder for its singleton socket in TMPDIR at each start, which /tmp kept
    (the folder's path stays short, as a socket's must)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver):
        pytest.fail("no headless browser: `make test` installs Debian's chromium and chromium-driver "
                    "(apt-get install chromium chromium-driver, as root)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,2000", "--allow-file-access-from-files"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    with tempfile.TemporaryDirectory(prefix="jingtu-browser-") as scratch:
        chrome = webdriver.Chrome(service=Service(driver, env={**os.environ, "TMPDIR": scratch}), options=options)
        try:
            yield chrome
        finally:
            chrome.quit()


def console_errors(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def requested_urls(driver) -> set[str]:
    """Every URL the page asked for since the last call (Chrome's performance log)."""
    messages = [json.loads(entry["message"])["message"] for entry in driver.get_log("performance")]
    return {m["params"]["request"]["url"] for m in messages if m["method"] == "Network.requestWillBeSent"}


def offline(urls: set[str]) -> bool:
    return bool(urls) and all(url.startswith(("file://", "data:", "about:")) for url in urls)
