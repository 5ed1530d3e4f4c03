"""`intone web` in a real browser: headless Chromium against a real binary and a real
redis-server, with results and audio from a real `intone work`."""

import os
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from console_fixtures import XSS, Web, free_port, intone_binary, publish_heartbeat, wait_for_http


def wait(driver, seconds=10):
    return WebDriverWait(driver, seconds)


def no_alert(driver):
    try:
        text = driver.switch_to.alert.text
    except NoAlertPresentException:
        return True
    raise AssertionError(f"an alert opened: {text!r}")


def play(driver, selector):
    """Loads and plays an <audio>; returns its duration (NaN/0 when it cannot play)."""
    return driver.execute_async_script(
        """
        const [selector, done] = arguments;
        const audio = document.querySelector(selector);
        if (!audio) return done('no element ' + selector);
        audio.muted = true;
        audio.addEventListener('error', () => done('error ' + (audio.error && audio.error.code)));
        audio.play().then(() => {
          const check = () => audio.currentTime > 0 ? done(audio.duration) : setTimeout(check, 50);
          check();
        }, (error) => done('play failed: ' + error));
        """, selector)


def test_every_page_loads(driver, web, screenshot):
    for path, name, heading in [
        ("/", "console-overview", "Overview"),
        ("/workers", "console-workers", "Workers"),
        ("/results", "console-results", "Results"),
        ("/dead", "console-dead-letters", "Dead letters"),
        ("/agents", "console-agents", "Agents"),
        ("/agents/edit?agent=support-bot", "console-agent-edit", "Agent support-bot"),
    ]:
        driver.get(web.base + path)
        assert driver.find_element(By.TAG_NAME, "h1").text == heading
        assert "Intone" in driver.title
        assert not driver.find_elements(By.CSS_SELECTOR, "p.problem"), path
        if path == "/":
            wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#history-chart rect")) > 100)
        screenshot(name)
    driver.get(web.base + "/dead")
    driver.find_element(By.CSS_SELECTOR, "#dead-letters tbody tr a").click()
    assert driver.find_element(By.TAG_NAME, "h1").text.startswith("Dead letter")
    screenshot("console-dead-letter")


def test_overview_shows_the_queue(driver, web):
    driver.get(web.base + "/")
    assert driver.find_element(By.ID, "dead-letters").text == "4"
    assert driver.find_element(By.ID, "live-workers").text == "2"
    assert int(driver.find_element(By.ID, "results-kept").text) >= 11
    legend = driver.find_element(By.CSS_SELECTOR, "#history-chart + figcaption").text
    assert "ok" in legend and "text_only" in legend


def test_filter_results(driver, web):
    driver.get(web.base + "/results")
    Select(driver.find_element(By.NAME, "status")).select_by_value("text_only")
    driver.find_element(By.CSS_SELECTOR, "#result-filters button").click()
    wait(driver).until(expected_conditions.url_contains("status=text_only"))
    statuses = [row.get_attribute("data-status") for row in driver.find_elements(By.CSS_SELECTOR, "#results tbody tr")]
    assert statuses == ["text_only", "text_only"]
    assert "matching among the last" in driver.find_element(By.ID, "results-summary").text

    driver.get(web.base + "/results")
    field = driver.find_element(By.NAME, "job")
    field.send_keys("reply-hello")
    field.submit()
    wait(driver).until(expected_conditions.url_contains("job=reply-hello"))
    rows = driver.find_elements(By.CSS_SELECTOR, "#results tbody tr")
    assert len(rows) == 1 and "reply-hello" in rows[0].text

    # The agent link filters by agent.
    driver.get(web.base + "/results")
    driver.find_element(By.LINK_TEXT, "quiet-bot").click()
    wait(driver).until(expected_conditions.url_contains("agent=quiet-bot"))
    rows = driver.find_elements(By.CSS_SELECTOR, "#results tbody tr")
    assert len(rows) == 1 and "agent_disabled" in rows[0].text


@pytest.mark.parametrize("kind", ["hello", "pcm", "ulaw", "streamed"])
def test_audio_plays(driver, web, seeded, kind):
    ids, _ = seeded
    driver.get(web.base + "/results")
    duration = play(driver, f'tr[data-entry="{ids[kind]}"] audio')
    assert isinstance(duration, (int, float)) and duration > 0, duration
    if kind == "ulaw":
        assert abs(duration - 1.5) < 0.05


def test_retry_a_dead_letter(driver, web, server, keys):
    letter = next(entry_id.decode() for entry_id, fields in server.client.xrange(keys.dead)
                  if fields[b"job_id"] == b"reply-retry-me")
    jobs_before = server.client.xlen(keys.jobs)
    driver.get(web.base + "/dead")
    driver.find_element(By.CSS_SELECTOR, f'tr[data-id="{letter}"] button.retry').click()
    wait(driver).until(expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, "p.notice"), "Retried 1 dead letter"))
    assert server.client.xrange(keys.dead, letter, letter) == []
    jobs = server.client.xrange(keys.jobs)
    assert len(jobs) == jobs_before + 1 and jobs[-1][1][b"job_id"] == b"reply-retry-me" and b"error" not in jobs[-1][1]
    assert not driver.find_elements(By.CSS_SELECTOR, f'tr[data-id="{letter}"]')


def test_delete_a_dead_letter(driver, web, server, keys):
    letter = next(entry_id.decode() for entry_id, fields in server.client.xrange(keys.dead)
                  if fields[b"job_id"] == b"reply-delete-me")
    before = server.client.xlen(keys.dead)
    driver.get(web.base + f"/dead/{letter}")
    driver.find_element(By.ID, "delete").click()
    alert = wait(driver).until(expected_conditions.alert_is_present())
    assert "Delete this dead letter" in alert.text
    alert.accept()
    wait(driver).until(expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, "p.notice"), "Deleted 1 dead letter"))
    assert server.client.xlen(keys.dead) == before - 1
    assert server.client.xrange(keys.dead, letter, letter) == []


def test_edit_an_agent(driver, web, server, keys):
    driver.get(web.base + "/agents")
    driver.find_element(By.LINK_TEXT, "support-bot").click()
    rate = driver.find_element(By.NAME, "rate")
    rate.clear()
    rate.send_keys("210")
    keywords = driver.find_element(By.NAME, "keywords")
    keywords.send_keys("urgent, now")
    driver.find_element(By.ID, "save").click()
    wait(driver).until(expected_conditions.presence_of_element_located((By.ID, "saved")))
    stored = server.client.hgetall(keys.agent("support-bot"))
    assert stored[b"rate"] == b"210" and stored[b"keywords"] == b"urgent,now" and stored[b"voice"] == b"en-us"

    # A value `intone agent set` would refuse is refused here too, and nothing is written.
    rate = driver.find_element(By.NAME, "rate")
    rate.clear()
    rate.send_keys("9000")
    driver.find_element(By.ID, "save").click()
    error = wait(driver).until(expected_conditions.presence_of_element_located((By.ID, "error")))
    assert "80 to 450" in error.text
    assert server.client.hget(keys.agent("support-bot"), "rate") == b"210"


def test_a_post_without_the_csrf_token_is_refused(driver, web, server, keys):
    letter = server.client.xrange(keys.dead, count=1)[0][0].decode()
    driver.get(web.base + "/dead")
    # From the page itself (same origin, cookie sent), but without the form's token.
    status = driver.execute_async_script(
        """
        const [url, done] = arguments;
        fetch(url, {method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'x=1'})
          .then(r => done(r.status), e => done(String(e)));
        """, f"/dead/{letter}/delete")
    assert status == 403
    # From outside the browser: no cookie, no token.
    request = urllib.request.Request(web.base + f"/dead/{letter}/delete", data=b"", method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 403
    assert server.client.xrange(keys.dead, letter, letter) != []


def test_an_xss_payload_renders_as_text(driver, web, server, keys):
    letter = next(entry_id.decode() for entry_id, fields in server.client.xrange(keys.dead)
                  if fields[b"job_id"] == b"reply-bad-voice")
    driver.get(web.base + f"/dead/{letter}")
    time.sleep(0.3)
    assert no_alert(driver)
    assert XSS in driver.find_element(By.ID, "fields").text
    assert driver.execute_script("return document.querySelectorAll('img[src=x], main script').length") == 0
    driver.get(web.base + "/results")
    time.sleep(0.3)
    assert no_alert(driver)
    assert XSS in driver.find_element(By.ID, "results").text
    assert driver.execute_script("return document.querySelectorAll('img[src=x]').length") == 0


def test_a_stopped_worker_disappears_within_seconds(driver, web, server, keys, seeded):
    _, heartbeats = seeded
    heartbeats.add("vm-short-lived-1", dict(host="vm-short", pid=1, started_ms=int(time.time() * 1000)))
    driver.get(web.base + "/workers")
    assert driver.find_elements(By.CSS_SELECTOR, 'tr[data-consumer="vm-short-lived-1"]')
    rows = driver.find_elements(By.CSS_SELECTOR, "#workers tbody tr")
    assert len(rows) == 3
    # It stops (no clean removal): its heartbeat expires, and the live page drops it.
    heartbeats.drop("vm-short-lived-1")
    stopped = time.time()
    wait(driver, 20).until(lambda d: not d.find_elements(By.CSS_SELECTOR, 'tr[data-consumer="vm-short-lived-1"]'))
    assert time.time() - stopped < 15
    assert len(driver.find_elements(By.CSS_SELECTOR, "#workers tbody tr")) == 2


def test_refuses_to_start_off_loopback_without_a_token(server, driver, screenshot):
    port = free_port()
    refused = subprocess.run([intone_binary(), "web", "--redis", server.url, "--listen", f"0.0.0.0:{port}"],
                             capture_output=True, text=True, timeout=20, env={**os.environ, "INTONE_WEB_TOKEN": ""})
    assert refused.returncode != 0
    assert "--token" in refused.stderr and "INTONE_WEB_TOKEN" in refused.stderr

    token = "browser-test-token-0123456789"
    process = subprocess.Popen([intone_binary(), "web", "--redis", server.url, "--queue", "browser", "--listen", f"0.0.0.0:{port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "INTONE_WEB_TOKEN": token})
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process)
        driver.delete_all_cookies()
        driver.get(f"http://127.0.0.1:{port}/results")
        assert "/login" in driver.current_url
        screenshot("console-login")
        driver.find_element(By.NAME, "token").send_keys("not-the-token-at-all")
        driver.find_element(By.CSS_SELECTOR, "#login button").click()
        assert "not the console" in wait(driver).until(expected_conditions.presence_of_element_located((By.ID, "error"))).text
        driver.find_element(By.NAME, "token").send_keys(token)
        driver.find_element(By.CSS_SELECTOR, "#login button").click()
        wait(driver).until(expected_conditions.url_to_be(f"http://127.0.0.1:{port}/results"))
        assert driver.find_element(By.TAG_NAME, "h1").text == "Results"
        with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/",
                                                           headers={"Authorization": f"Bearer {token}"})) as response:
            assert response.status == 200
    finally:
        process.terminate()
        process.wait(15)
