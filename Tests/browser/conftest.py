"""Fixtures: one redis-server, one seeded queue and one `intone web` for the session,
and a headless Chromium driven by chromedriver (Debian's chromium and chromium-driver)."""

import os

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from console_fixtures import REPO, Keys, RedisServer, Web, seed

QUEUE = "browser"
# The README's screenshots; ops/test.sh sends them to a temporary folder instead.
IMAGES = os.environ.get("INTONE_SCREENSHOT_DIR") or os.path.join(REPO, "docs", "images")


@pytest.fixture(scope="session")
def server():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def seeded(server):
    ids, heartbeats = seed(server, QUEUE)
    yield ids, heartbeats
    heartbeats.stopped.set()


@pytest.fixture(scope="session")
def web(server, seeded):
    web = Web(server.url, QUEUE)
    yield web
    web.stop()


@pytest.fixture(scope="session")
def keys():
    return Keys(QUEUE)


@pytest.fixture(scope="session")
def driver():
    options = webdriver.ChromeOptions()
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000",
                     "--autoplay-policy=no-user-gesture-required", "--mute-audio", "--force-device-scale-factor=1"]:
        options.add_argument(argument)
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    # Debian's driver, so Selenium Manager never goes to the network for one.
    service = Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def screenshot(driver):
    os.makedirs(IMAGES, exist_ok=True)

    def take(name):
        driver.save_screenshot(os.path.join(IMAGES, name + ".png"))

    return take
