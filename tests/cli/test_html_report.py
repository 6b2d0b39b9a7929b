"""`get execution NAME -o html`: one self-contained page, checked in a real headless
browser (Debian's chromium): every grid cell renders, every child has its row and log
link, and no request leaves the page."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

import pytest

from tests.backends.local.test_local_backend import P
from tests.cli.test_watch import FAILED, mixed
from tests.conftest import Invoke

# Run inside a copy of the report (the report itself has no script): what the browser
# laid out and fetched, written where --dump-dom shows it.
PROBE = """<script>window.addEventListener('load', () => {
  const cells = [...document.querySelectorAll('#grid .cell')];
  const hidden = cells.filter(c => {
    const r = c.getBoundingClientRect(); return !(r.width > 0 && r.height > 0);
  }).length;
  document.body.setAttribute('data-probe', JSON.stringify({
    cells: cells.length, hidden,
    failedCells: [...document.querySelectorAll('#grid .cell.failed')].map(c => c.title),
    requests: performance.getEntriesByType('resource').map(e => e.name),
    rows: document.querySelectorAll('#children tbody tr').length,
    links: document.querySelectorAll('#children a').length,
    failures: document.querySelectorAll('#failures li').length,
  }));
});</script>"""


def chromium() -> str:
    """The browser, or a skip that says why: under CI=true a missing browser fails."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "no chromium on this machine (apt-get install chromium); .ci/run installs it"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the browser test: {reason}")
    pytest.skip(reason)


def probe(page: Path, tmp_path: Path) -> dict:
    browser = chromium()
    probed = page.with_name("probe.html")
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--proxy-server=127.0.0.1:9",  # any request that tried to leave would fail
            "--virtual-time-budget=10000",  # let the page load (and fail to fetch) first
            "--dump-dom",
            probed.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r'data-probe="([^"]*)"', result.stdout)
    assert found, f"chromium did not render the page: {result.stderr[-2000:]}"
    return json.loads(unescape(found.group(1)))


def test_the_report_is_one_self_contained_page(cli: Invoke, tmp_path: Path) -> None:
    exec_file = mixed(cli, tmp_path)
    assert (
        cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "rep").exit_code == 7
    )
    result = cli("get", "execution", *P, "rep", "--all", "-o", "html")
    assert result.exit_code == 0, result.stderr
    html = result.stdout
    assert html.startswith("<!DOCTYPE html>")
    # Nothing to fetch: no script, stylesheet, font, image or frame, no url() in the CSS.
    for banned in ("<script", "<link", "src=", "url(", "@import", "<iframe", "<img"):
        assert banned not in html.lower(), banned
    assert "exited with code 3" in html
    page = tmp_path / "report.html"
    page.write_text(html)
    seen = probe(page, tmp_path)
    assert seen["cells"] == 30 and seen["hidden"] == 0
    assert seen["failedCells"] == [f"child {i}: FAILED" for i in FAILED]
    assert seen["rows"] == 30 and seen["links"] == 30 and seen["failures"] == 4
    assert seen["requests"] == []


def test_the_probe_sees_a_request_that_leaves(cli: Invoke, tmp_path: Path) -> None:
    """The browser check can fail: a page that loads an image is caught."""
    page = tmp_path / "leaky.html"
    page.write_text(
        '<!DOCTYPE html><html><body><div id="grid"><div class="cell"></div></div>'
        '<img src="http://127.0.0.1:9/pixel.png"></body></html>'
    )
    seen = probe(page, tmp_path)
    assert seen["requests"] == ["http://127.0.0.1:9/pixel.png"]
    assert seen["hidden"] == 1  # an unstyled cell has no size


def test_html_is_for_one_execution_only(cli: Invoke) -> None:
    result = cli("get", "execution", *P, "-o", "html")
    assert result.exit_code == 2 and "-o html is for one execution" in result.stderr
