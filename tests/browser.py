"""A headless Chromium for tests of the pages (feedback, class report, the service's), driven by
Playwright for Python.

Playwright's own browser download is not reachable from every machine, so the browser is the
system's Chromium (``apt-get install chromium``; ``./dev setup`` installs it as root where apt
exists), launched through ``executable_path``. :func:`chromium_path` finds it; the ``browser``
fixture (tests/conftest.py) skips, loudly, where it or Playwright is missing.

:func:`layout` opens an HTML file at a window width and returns what the assertions need: the
page's scroll width against the window's, and every image's right edge.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

#: Where Chromium is looked for, besides ``PATH`` (Debian: /usr/bin/chromium).
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: Environment variable naming a Chromium binary to use instead.
CHROMIUM_ENV = "CHROMIUM_PATH"


def chromium_path() -> str | None:
    """The Chromium binary to launch: ``$CHROMIUM_PATH``, else the first of
    :data:`CANDIDATES` on ``PATH``; None where there is none."""
    given = os.environ.get(CHROMIUM_ENV)
    if given:
        return given if Path(given).is_file() else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def missing() -> str | None:
    """Why no browser test can run here (None: they can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return (
            "Playwright for Python is not installed (pip install -c constraints.txt -e '.[test]')"
        )
    if chromium_path() is None:
        return "no Chromium found (apt-get install chromium, or set CHROMIUM_PATH)"
    return None


#: The layout facts of a page: scroll width, window width, each image's box, and each nbgrader
#: grade cell's heading, score and code box.
_LAYOUT_JS = """() => ({
  scrollWidth: document.scrollingElement.scrollWidth,
  innerWidth: window.innerWidth,
  images: Array.from(document.images).map(i => {
    const r = i.getBoundingClientRect();
    return {alt: i.alt, left: r.left, right: r.right, width: r.width,
            natural: i.naturalWidth, complete: i.complete};
  }),
  gradeCells: Array.from(document.querySelectorAll('.nbgrader_cell')).map(c => {
    const head = c.querySelector('.panel-heading'), score = c.querySelector('.pull-right');
    const code = c.querySelector('.input_area');
    return {headBottom: head.getBoundingClientRect().bottom,
            scoreBottom: score ? score.getBoundingClientRect().bottom : 0,
            codeWidth: code ? code.getBoundingClientRect().width : 0,
            width: c.getBoundingClientRect().width};
  }),
})"""


def layout(browser, page_file: Path, width: int, screenshot: Path | None = None) -> dict:
    """Open ``page_file`` in a new ``width`` x 900 px window of ``browser`` (a Playwright
    Browser), optionally write a full-page ``screenshot``, and return :data:`_LAYOUT_JS`'s
    facts plus ``fonts``: the computed font family of each ``.autograde-message``."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        page.goto(Path(page_file).resolve().as_uri())
        page.wait_for_load_state("load")
        facts = page.evaluate(_LAYOUT_JS)
        facts["fonts"] = page.evaluate(
            "() => Array.from(document.querySelectorAll('.autograde-message'))"
            ".map(e => getComputedStyle(e).fontFamily)"
        )
        facts["body_font"] = page.evaluate("() => getComputedStyle(document.body).fontFamily")
        # what the hidden tests' cells print (their messages), as FeedbackCells tags them
        facts["verdict_fonts"] = page.evaluate(
            "() => Array.from(document.querySelectorAll("
            "'.celltag_autograde-verdict .output_area pre'))"
            ".map(e => getComputedStyle(e).fontFamily)"
        )
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
        return facts
    finally:
        context.close()
