"""The HTML report as a person sees it: rendered by a real headless Chromium (Debian's
``chromium`` and ``chromium-driver``, driven by selenium with the system chromedriver;
selenium never downloads a driver). Outside CI a missing browser skips; under CI=true it fails.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI
from tests.e2e.test_cli import poller

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
HOSTILE_1 = "<script>window.__pwned=1</script>db-<b>bold</b>"
HOSTILE_2 = "<img src=x onerror=\"window.__pwned=2\">renamed|x\n\x1b[31m"


def _missing(why: str) -> None:
    if IN_CI:
        pytest.fail(f"{why} (CI installs chromium and chromium-driver)")
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless Chromium at 1280x900 from the system packages."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed (pip install -e '.[test]')")
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        _missing(f"{CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)")
    os.environ["SE_OFFLINE"] = "true"  # never let selenium-manager fetch anything
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tmp_path_factory.mktemp("chromium-profile")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
                f"--user-data-dir={profile}", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`poller demo` in a temp dir, then the HTML report command it suggests, run as printed."""
    work = tmp_path_factory.mktemp("demo")
    result = poller("demo", "--workdir", str(work), cwd=work)
    assert result.returncode == 0, result.stderr[-2000:]
    suggested = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("poller ") and "--format html" in line]
    report = work / "report.html"
    command = shlex.split(suggested[0]) if suggested else ["poller", "--config", str(work / "poller.yaml"), "diff",
                                                            "--format", "html", "-o", str(report)]
    assert command[-1] == str(report), command
    result = poller(*command[1:], cwd=work)  # no secrets in the environment: a report reads only the database
    assert result.returncode == 0, result.stderr
    return report


def _visible_rows(driver: Any) -> list[Any]:
    from selenium.webdriver.common.by import By

    return [r for r in driver.find_elements(By.CSS_SELECTOR, "tr.row") if r.is_displayed()]


def _severe_logs(driver: Any) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


@pytest.mark.slow
class TestDemoReportInBrowser:
    """The demo's report opened from file:// in Chromium at 1280 px."""

    def test_state_change_on_screen_and_filters_work(self, browser: Any, demo_report: Path, tmp_path: Path) -> None:
        """db-1 up -> maintenance is shown; filtering by source then unticking 'updated' hides the right rows."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select

        browser.get(demo_report.as_uri())
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        db1 = browser.find_element(By.CSS_SELECTOR, "tr.row.update[data-source='demo-static'][data-text*='db-1']")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", db1)
        assert db1.is_displayed()
        assert re.search(r"state\s+up\s+maintenance", db1.text), db1.text
        all_rows = len(_visible_rows(browser))

        Select(browser.find_element(By.ID, "f-source")).select_by_value("demo-static")
        static = _visible_rows(browser)
        assert static and len(static) < all_rows
        assert {r.get_attribute("data-source") for r in static} == {"demo-static"}
        assert {r.get_attribute("data-action") for r in static} == {"create", "update", "delete"}
        assert browser.find_element(By.ID, "shown").text == str(len(static))

        browser.find_element(By.ID, "f-update").click()
        without_updates = _visible_rows(browser)
        assert {r.get_attribute("data-action") for r in without_updates} == {"create", "delete"}
        assert not db1.is_displayed()

        browser.find_element(By.ID, "f-update").click()
        browser.find_element(By.ID, "f-q").send_keys("db-1")
        assert [r.get_attribute("data-action") for r in _visible_rows(browser) if "update" in r.get_attribute("class")] == ["update"]
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", db1)
        shot = tmp_path / "report-filtered.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000

        browser.find_element(By.ID, "f-q").clear()
        pick = browser.find_element(By.CSS_SELECTOR, "#summary tr.pick[data-source='demo-openstack'][data-type='compute.server']")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", pick)
        pick.click()
        picked = _visible_rows(browser)
        assert picked and {(r.get_attribute("data-source"), r.get_attribute("data-type")) for r in picked} == {
            ("demo-openstack", "compute.server")}
        assert _severe_logs(browser) == []

    def test_readable_at_1280_without_wrapping_times(self, browser: Any, demo_report: Path, tmp_path: Path) -> None:
        """No horizontal scrolling at 1280 px, every timestamp on one line, first loads fold open on click."""
        from selenium.webdriver.common.by import By

        browser.get(demo_report.as_uri())
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 1280
        lines = browser.execute_script(
            "return Array.from(document.querySelectorAll('#changes time')).map(t => t.getClientRects().length)")
        assert lines and set(lines) == {1}
        assert "times in UTC" in browser.find_element(By.TAG_NAME, "header").text
        fold = browser.find_element(By.CSS_SELECTOR, "#first-loads tr.row[data-type='compute.server'] details")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", fold)
        entities = fold.find_element(By.CSS_SELECTOR, "ul.entities")
        assert not entities.is_displayed()
        fold.find_element(By.TAG_NAME, "summary").click()
        assert entities.is_displayed() and "web-2" in entities.text
        browser.execute_script("window.scrollTo(0, 0)")
        shot = tmp_path / "report.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static source whose entity names are HTML and script, renamed once, reported as HTML."""
    work = tmp_path_factory.mktemp("hostile")
    inv = work / "inv.jsonl"
    (work / "poller.yaml").write_text(
        f"baseline: {{url: 'sqlite:///{work}/b.db'}}\nsources: [{{name: inv, collector: static, options: {{path: '{inv}'}}}}]\n"
    )
    import json

    inv.write_text(json.dumps({"type": "vm", "key": "k<i>1</i>", "name": HOSTILE_1, "attributes": {"note": HOSTILE_2}}) + "\n")
    assert poller("snapshot", cwd=work).returncode == 0
    inv.write_text(json.dumps({"type": "vm", "key": "k<i>1</i>", "name": HOSTILE_2, "attributes": {"note": HOSTILE_1}}) + "\n")
    assert poller("snapshot", cwd=work).returncode == 0
    assert poller("diff", "--format", "html", "-o", str(work / "hostile.html"), cwd=work).returncode == 0
    return work / "hostile.html"


@pytest.mark.slow
class TestHostileNamesInBrowser:
    """B18: entity names are untrusted; in the browser they are text and no script of theirs runs."""

    def test_names_render_as_text_and_nothing_runs(self, browser: Any, hostile_report: Path) -> None:
        """B18: <script> and <img onerror> names show literally; no injected element exists; nothing ran."""
        from selenium.webdriver.common.by import By

        browser.get(hostile_report.as_uri())
        assert browser.execute_script("return typeof window.__pwned") == "undefined"
        assert browser.execute_script("return document.images.length") == 0
        assert browser.execute_script("return document.scripts.length") == 1
        assert browser.execute_script("return document.querySelectorAll('b:not(#shown)').length") == 0
        assert browser.execute_script("return [...document.querySelectorAll('i')].filter(e => e.textContent === '1').length") == 0
        row = browser.find_element(By.CSS_SELECTOR, "#changes tr.row.update")
        assert HOSTILE_1 in row.text
        assert '<img src=x onerror="window.__pwned=2">renamed|x\\n\\e[31m' in row.text
        assert "k<i>1</i>" in row.text
        assert not [e for e in _severe_logs(browser) if "pwned" in e.get("message", "")]


def test_ci_installs_the_browser() -> None:
    """.ci/run installs chromium and chromium-driver, so CI runs these tests instead of failing them."""
    ci = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text()
    assert re.search(r"apt-get install[^\n]*(\\\n[^\n]*)*\bchromium\b", ci) and "chromium-driver" in ci
