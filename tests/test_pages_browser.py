"""The pages as a student and an instructor see them (issue 26 item 7): bob's feedback page
(adaptive_threshold, the tutorial's decay bug) at 1280 and 420 px and the class report of 300
at 900 px, in headless Chromium (tests/browser.py; skipped loudly without it), with no
horizontal scroll and every image within the window; screenshots land in the test's tmp folder.

Without a browser, the plots' text sizes, the 2x images, the page's font for the messages, the
contents named by check and the plurals are asserted on the HTML and the figures themselves.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest
from browser import layout

from autograde import feedback
from autograde import report as class_report_module
from graders.assignments import get, names
from graders.feedback import feedback_observables
from graders.spec import validate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import class_report  # noqa: E402  (the benchmark's generated class)

REPO = Path(__file__).resolve().parent.parent
A = "adaptive_threshold"
MIN_TEXT_PX = 10


def _bob_spec() -> dict:
    ns: dict = {}
    exec(get(A).answers["partly"], {}, ns)
    return validate(get(A), ns)[0]


def _exporter():
    """nbgrader's feedback template and exporter, as ``generate_feedback`` configures them."""
    import nbgrader.converters as conv
    from nbgrader.preprocessors import ClearHiddenTests
    from traitlets.config import Config

    from autograde.feedback_page import FeedbackExporter
    from autograde.preprocessors import FeedbackCells

    base = Path(conv.__file__).resolve().parent.parent / "server_extensions" / "formgrader"
    c = Config()
    c.HTMLExporter.template_name = "feedback"
    c.HTMLExporter.extra_template_basedirs = [str(base / "templates")]
    css = base / "static" / "node_modules" / "bootstrap" / "dist" / "css"
    c.HTMLExporter.extra_template_paths = [str(css)]
    exporter = FeedbackExporter(config=c)
    exporter.register_preprocessor(FeedbackCells(), enabled=True)
    exporter.register_preprocessor(ClearHiddenTests(), enabled=True)
    return exporter


@pytest.fixture(scope="module")
def bob(tmp_path_factory):
    """bob's feedback page (nbgrader's export of the course notebook, scored as bob's checks
    score on the feedback cases, with autograde's messages and plots) and its observables."""
    tmp = tmp_path_factory.mktemp("bob")
    a, spec = get(A), _bob_spec()
    obs = feedback_observables(A, spec, "runtime", cache_dir=tmp / "cache")
    cases = a.feedback_cases()
    cells = {}
    for check, points in a.points.items():
        found = a.feedback(check, spec, obs, cases)
        got = 0.0 if not found.details["passed"] else points
        cells[f"hidden_{check}"] = {
            "check": check,
            "points": got,
            "max_points": points,
            "message": found.message,
            "spec": spec,
        }
    plots = feedback.make_plots(A, cells, "runtime", cache_dir=tmp / "cache")
    nb = nbformat.read(REPO / "source" / A / f"{A}.ipynb", as_version=4)
    for cell in nb.cells:
        info = cell.metadata.get("nbgrader", {})
        if info.get("grade") and not info.get("solution"):
            rec = cells.get(info["grade_id"])
            info["score"] = rec["points"] if rec else info["points"]
            if rec:  # the hidden cell's output: its message, as TrustedVerdicts leaves it
                out = nbformat.v4.new_output("stream", name="stdout", text=rec["message"] + "\n")
                cell.outputs = [out]
    total = sum(r["points"] for r in cells.values())
    resources = {"nbgrader": {"notebook": A, "score": total, "max_score": 10.0, "late_penalty": 0}}
    page, _ = _exporter().from_notebook_node(nb, resources=resources)
    text = feedback.page_with_checks(page, A, cells, plots, [])
    path = tmp / f"{A}.html"
    path.write_text(text)
    return {"path": path, "text": text, "obs": obs, "cases": cases, "cells": cells}


def test_plots_are_2x_and_their_text_at_least_10_px_as_displayed(bob):
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    for check in get(A).points:
        fig, ax = feedback.new_figure()
        get(A).draw(check, ax, bob["obs"], bob["cases"], None)
        fig.tight_layout()
        small = [
            (t.get_text(), t.get_fontsize())
            for t in fig.findobj(Text)
            if t.get_visible() and t.get_text().strip()
            and t.get_fontsize() * feedback.DISPLAY_DPI / 72 < MIN_TEXT_PX
        ]  # fmt: skip
        plt.close(fig)
        assert not small, f"{check}: text under {MIN_TEXT_PX} px as displayed: {small}"
    imgs = re.findall(r'<img alt="[^"]*" class="autograde-plot" width="(\d+)"[^>]*src="data:'
                      r'image/png;base64,([^"]+)"', bob["text"])  # fmt: skip
    assert len(imgs) == len(get(A).points)
    for width, png in imgs:
        assert feedback.png_size(png)[0] == feedback.SCALE * int(width), "not drawn at 2x"
        assert int(width) >= 560


def test_messages_in_the_pages_font_contents_named_by_check_plurals_right(bob):
    text = bob["text"]
    assert "font-family: inherit" in feedback.WRAP_CSS and "monospace" not in feedback.WRAP_CSS
    assert "img {max-width: 100%" in feedback.WRAP_CSS
    assert ">Test cell</a>" not in text, "the contents still say 'Test cell'"
    for check, points in get(A).points.items():
        unit = "point" if points == 1 else "points"
        assert re.search(rf'<li><a href="#hidden_{check}">{check}</a>: [\d.]+ of {points} {unit}',
                         text), check  # fmt: skip
    assert "0 of 1 points" not in text and "of 1 point" in text
    assert feedback.points_text(0, 1) == "0 of 1 point"
    assert feedback.points_text(1.8182, 2) == "1.82 of 2 points"


@pytest.mark.slow
@pytest.mark.parametrize("width", [1280, 420])
def test_the_feedback_page_fits_the_window(bob, browser, width, tmp_path):
    shot = tmp_path / f"feedback-{width}.png"
    facts = layout(browser, bob["path"], width, shot)
    assert facts["scrollWidth"] <= facts["innerWidth"], f"scrolls sideways at {width} px"
    plots = [i for i in facts["images"] if i["alt"].endswith("your traces and the reference")]
    assert len(plots) == len(get(A).points)
    for im in facts["images"]:
        assert im["complete"] and im["natural"] > 0, f"{im['alt']} did not load"
        assert im["left"] >= 0 and im["right"] <= facts["innerWidth"] + 0.5, im
    for cell in facts["gradeCells"]:  # the score stays in its heading, the code box full width
        assert cell["scoreBottom"] <= cell["headBottom"] + 0.5, (width, cell)
        assert cell["codeWidth"] >= 0.8 * (cell["width"] - 20), (width, cell)
    if width == 1280:  # shown at their display size, drawn at twice it
        assert all(abs(i["width"] * feedback.SCALE - i["natural"]) <= 2 for i in plots)
    assert facts["fonts"] and all(f == facts["body_font"] for f in facts["fonts"])
    # the hidden cells' messages too: prose, not code
    assert len(facts["verdict_fonts"]) == len(get(A).points)
    assert all(f == facts["body_font"] for f in facts["verdict_fonts"]), facts["verdict_fonts"]
    assert shot.stat().st_size > 10_000


@pytest.mark.slow
def test_the_class_report_of_300_fits_900_px(browser, tmp_path):
    statuses, _ = class_report.generated_class(300, seed=3)
    page = class_report_module.write(tmp_path, class_report.ASSIGNMENT, statuses)
    shot = tmp_path / "summary-900.png"
    facts = layout(browser, page, 900, shot)
    assert facts["scrollWidth"] <= facts["innerWidth"], "the class report scrolls sideways"
    assert facts["images"], "the report's plot is missing"
    for im in facts["images"]:
        assert im["complete"] and im["right"] <= facts["innerWidth"] + 0.5, im
    assert shot.stat().st_size > 10_000


@pytest.mark.parametrize("name", names())
def test_every_assignments_page_fits_a_phone(browser, name, tmp_path):
    """The course's own text, as every feedback page shows it: a row of display equations
    (ei_balance's three) scrolls within itself at 420 px, the page does not scroll sideways."""
    nb = nbformat.read(REPO / "source" / name / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:  # scored as an empty answer scores
        info = cell.metadata.get("nbgrader", {})
        if info.get("grade"):
            info["score"] = 0
    res = {"nbgrader": {"notebook": name, "score": 0, "max_score": 10.0, "late_penalty": 0}}
    page, _ = _exporter().from_notebook_node(nb, resources=res)
    path = tmp_path / f"{name}.html"
    path.write_text(page)
    facts = layout(browser, path, 420, tmp_path / f"{name}-420.png")
    assert facts["scrollWidth"] <= facts["innerWidth"], f"{name} scrolls sideways at 420 px"
