"""Open a generated report in headless Chromium: no console errors, plots drawn, hostile text inert.

Chromium comes from Debian's ``chromium`` package, installed here when missing (tests run as
root in CI); the test skips only where apt itself is unavailable. Set TUNEWISE_SCREENSHOT_DIR
to keep the screenshots (first screen and full page) for a human look.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .conftest import IMG_PAYLOAD, SCRIPT_PAYLOAD

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    pytest.importorskip("websocket", reason="needs websocket-client (pip install websocket-client)")
    from .chromium import Browser, ensure_chromium

    binary = ensure_chromium()
    if binary is None:
        pytest.skip("chromium is not installed and apt-get is unavailable to install it")
    with Browser(binary) as instance:
        yield instance


def test_report_renders_in_chromium(browser, synthetic_report, tmp_path):
    browser.open(synthetic_report.resolve().as_uri())
    assert browser.evaluate("document.title").startswith("tunewise report")

    # Plots rendered: every chart has a nonzero box on the page and drawn data inside it.
    charts = browser.evaluate("""Array.from(document.querySelectorAll('svg.chart')).map(svg => {
        const box = svg.getBoundingClientRect();
        const drawn = Array.from(svg.querySelectorAll('.series')).map(s => s.getBBox())
                           .filter(b => b.width > 0 || b.height > 0).length;
        return {title: svg.querySelector('title').textContent, width: box.width, height: box.height, drawn};
    })""")
    assert len(charts) >= 6, charts
    for chart in charts:
        assert chart["width"] > 100 and chart["height"] > 50, chart
        assert chart["drawn"] > 0, chart

    # Hostile answers are shown as text and never ran.
    text = browser.evaluate("document.body.innerText")
    assert SCRIPT_PAYLOAD in text
    assert IMG_PAYLOAD in text
    assert browser.evaluate("typeof window.__pwned") == "undefined"
    assert browser.evaluate("document.querySelectorAll('script, img, iframe, object').length") == 0

    # The decision sentence, with its numbers, is on the first screen, above what fine-tuning did.
    top = browser.evaluate("document.getElementById('decision-sentence').getBoundingClientRect().top")
    assert 0 <= top < 300
    first = browser.evaluate("document.getElementById('decision-sentence').innerText")
    assert first.startswith("Fine-tune: best prompting zero-shot 40.0%") and "70.0%" in first, first
    bottom = browser.evaluate("document.querySelector('.decision').getBoundingClientRect().bottom")
    assert bottom <= browser.evaluate("window.innerHeight"), "the headline block must fit on the first screen"
    verdict_tops = browser.evaluate("Array.from(document.querySelectorAll('p.verdict')).map("
                                    "p => p.previousElementSibling.tagName)")
    assert verdict_tops == ["H2"] * 7  # each section opens with its verdict

    assert browser.console_errors() == []

    first_screen = browser.screenshot(tmp_path / "report-first-screen.png")
    full_page = browser.screenshot(tmp_path / "report-full-page.png", full_page=True)
    for png in (first_screen, full_page):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    keep = os.environ.get("TUNEWISE_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for png in (first_screen, full_page):
            shutil.copy(png, Path(keep) / png.name)
