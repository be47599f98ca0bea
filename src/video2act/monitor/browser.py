"""Open the monitor's page in headless Chromium (selenium + chromedriver, Debian packages `chromium`,
`chromium-driver`) and take screenshots: the browser test and `video2act monitor --screenshot` use it.
The rerun viewer is WebAssembly drawn with WebGL; headless Chromium draws it in software (SwiftShader),
which takes some seconds to load on a small CPU."""
from __future__ import annotations

import importlib.util
import shutil
import time

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> tuple[str | None, str | None, str]:
    """(chromium binary, chromedriver, reason when either is missing)."""
    browser = next((shutil.which(n) for n in CHROMIUM_NAMES if shutil.which(n)), None)
    driver = shutil.which("chromedriver")
    if importlib.util.find_spec("selenium") is None:
        return browser, driver, "selenium is not installed (pip install selenium)"
    if not browser or not driver:
        return browser, driver, ("no Chromium / chromedriver on PATH (Debian: apt-get install chromium "
                                 "chromium-driver)")
    return browser, driver, ""


def open_page(url: str, size=(1600, 1000)):
    """A headless Chromium webdriver showing `url` (RuntimeError naming what is missing)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver, reason = find_chromium()
    if reason:
        raise RuntimeError(reason)
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--enable-unsafe-swiftshader",
                "--use-angle=swiftshader", "--ignore-gpu-blocklist", f"--window-size={size[0]},{size[1]}"):
        opts.add_argument(arg)
    page = webdriver.Chrome(service=Service(driver), options=opts)
    page.set_page_load_timeout(60)
    page.get(url)
    return page


def screenshot(page):
    """(H, W, 3) uint8 RGB of the page as drawn now."""
    import cv2
    import numpy as np

    png = np.frombuffer(page.get_screenshot_as_png(), np.uint8)
    return cv2.imdecode(png, cv2.IMREAD_COLOR)[:, :, ::-1].copy()


def wait_for(page, condition, timeout: float = 90.0, period: float = 2.0):
    """Screenshots every `period` s until condition(rgb) is true; (rgb, seconds waited), or (last rgb, None)."""
    start = time.monotonic()
    rgb = screenshot(page)
    while not condition(rgb):
        if time.monotonic() - start > timeout:
            return rgb, None
        time.sleep(period)
        rgb = screenshot(page)
    return rgb, time.monotonic() - start
