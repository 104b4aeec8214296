"""The feedback page as a student opens it (issue 15, item 2): maths rendered without a CDN, no
empty self-checks in the table of contents, no bare ``Out[n]: 1.8182``, the student's own figure.

The fast tests export the course's notebooks with :class:`autograde.feedback_page.FeedbackExporter`
and nbgrader's feedback template, as ``generate_feedback`` does, and start one student kernel as
the pipeline starts it; the slow one grades a class of two through ``autograde grade`` (runtime
backend, private result cache) and reads the pages it wrote.
"""

from __future__ import annotations

import copy
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from banks import gradebook_scores
from nbformat.notebooknode import from_dict

from autograde import demo
from autograde.feedback_page import FeedbackExporter, tex_to_mathml
from autograde.preprocessors import FeedbackCells
from graders import settings

REPO = Path(__file__).resolve().parent.parent
A = "adaptive_threshold"
NOTEBOOKS = sorted((REPO / "source").glob("*/*.ipynb"))
HIDDEN = ["hidden_reduction", "hidden_jump", "hidden_decay", "hidden_rest", "hidden_agreement"]
# a formula: $$...$$ or $...$ (nbconvert's own patterns, minus escapes, which the course has none)
FORMULA = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$", re.S)


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else source


def _formulas(markdown: str) -> list[tuple[str, bool]]:
    """The course's formulas of one Markdown cell (code spans and blocks left out)."""
    md = re.sub(r"```.*?```", "", markdown, flags=re.S)
    md = re.sub(r"`[^`\n]*`", "", md)
    return [(m.group(1) or m.group(2), m.group(1) is not None) for m in FORMULA.finditer(md)]


def _exporter() -> FeedbackExporter:
    """The exporter as nbgrader's ``GenerateFeedback`` configures it (template and paths)."""
    import nbgrader.converters as conv
    from traitlets.config import Config

    base = Path(conv.__file__).resolve().parent.parent / "server_extensions" / "formgrader"
    c = Config()
    c.HTMLExporter.template_name = "feedback"
    c.HTMLExporter.extra_template_basedirs = [str(base / "templates")]
    css = base / "static" / "node_modules" / "bootstrap" / "dist" / "css"
    c.HTMLExporter.extra_template_paths = [str(css)]
    return FeedbackExporter(config=c)


class _Page(html.parser.HTMLParser):
    """What a browser would fetch from elsewhere, and the text of code and of maths."""

    def __init__(self):
        super().__init__()
        self.remote, self.math, self._stack = [], 0, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        url = a.get("src") if tag in ("script", "img", "iframe") else None
        if tag == "link" and "stylesheet" in (a.get("rel") or ""):
            url = a.get("href")
        if url and re.match(r"\s*(https?:)?//", url):
            self.remote.append(f"<{tag}> {url}")
        self.math += tag == "math"


def _graded(nb_path: Path, scores: dict | None = None):
    """A course notebook as the autograder leaves it: grade cells scored, hidden cells with
    TrustedVerdicts' message and partial credit, a code cell and an output with dollars."""
    nb = nbformat.read(nb_path, as_version=4)
    hidden = {}
    for cell in nb.cells:
        info = cell.metadata.get("nbgrader", {})
        if info.get("grade") and not info.get("solution"):
            info["score"] = (scores or {}).get(info["grade_id"], info["points"])
            if "hidden_check(" in cell.source:
                cell.outputs = [
                    from_dict({"output_type": "stream", "name": "stdout", "text": "msg OK\n"}),
                    from_dict(
                        {
                            "output_type": "execute_result",
                            "execution_count": 7,
                            "metadata": {},
                            "data": {"text/plain": "1.8182"},
                        }
                    ),
                ]
                hidden[info["grade_id"]] = {}
    dollars = nbformat.v4.new_code_cell(
        "price = '$x$ and $$y$$'\nprint(price)",
        outputs=[nbformat.v4.new_output("stream", name="stdout", text="$5$ and $$\\alpha$$\n")],
    )
    nb.cells.append(dollars)
    nb.metadata["autograde"] = {"cells": hidden}
    return nb


def _export(nb) -> tuple[str, object]:
    exporter = _exporter()
    exporter.register_preprocessor(FeedbackCells(), enabled=True)
    info = {"notebook": "nb", "score": 4.82, "max_score": 10.0, "late_penalty": 0}
    before = copy.deepcopy(nb)
    page, _ = exporter.from_notebook_node(nb, resources={"nbgrader": info})
    assert nb == before, "the export changed the graded notebook"
    return page, _Page()


# --- maths without a CDN -------------------------------------------------------------------------


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.parent.name for p in NOTEBOOKS])
def test_every_formula_of_the_course_renders_as_mathml(path):
    formulas = [
        f
        for cell in nbformat.read(path, as_version=4).cells
        if cell.cell_type == "markdown"
        for f in _formulas(cell.source)
    ]
    assert formulas, f"{path.name} has no maths?"
    bad = [tex for tex, display in formulas if tex_to_mathml(tex, display) is None]
    assert bad == [], f"latex2mathml cannot render {bad}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.parent.name for p in NOTEBOOKS])
def test_the_page_needs_no_network_and_leaves_code_dollars_alone(path):
    nb = _graded(path)
    page, parsed = _export(nb)
    parsed.feed(page)
    assert parsed.remote == [], f"the page loads {parsed.remote}"
    assert "x-mathjax-config" not in page and "MathJax.Hub" not in page
    n = sum(len(_formulas(c.source)) for c in nb.cells if c.cell_type == "markdown")
    assert parsed.math == n, f"{parsed.math} MathML formulas for the notebook's {n}"
    # no TeX left in the rendered Markdown: every $ on the page is a code cell's or an output's
    code = [c for c in nb.cells if c.cell_type == "code"]
    dollars = sum(c.source.count("$") for c in code)
    dollars += sum(o.get("text", "").count("$") for c in code for o in c.outputs)
    assert page.count("$") == dollars, "a formula was left as TeX, or a code cell's $ changed"
    assert "$x$ and $$y$$" in page and "$5$ and $$\\alpha$$" in page


def test_a_students_markdown_keeps_its_tex_and_no_tex_becomes_markup():
    exporter = _exporter()
    locked = {"metadata": {"nbgrader": {"locked": True}}}
    student = {"metadata": {}}
    assert "<math" in exporter.markdown2html({"cell": locked}, "a $\\tau$ b")
    assert "<math" not in exporter.markdown2html({"cell": student}, "a $\\tau$ b")
    for tex in [r"\text{<script>alert(1)</script>}", r"\href{javascript:alert(1)}{x}"]:
        assert tex_to_mathml(tex) is None, tex
        out = exporter.markdown2html({"cell": locked}, f"a ${tex}$ b")
        assert "<script" not in out and "href=" not in out, out


# --- the table of contents and the hidden cells -------------------------------------------------


def test_no_empty_self_checks_and_no_bare_scores():
    nb = _graded(REPO / "source" / A / f"{A}.ipynb", {"hidden_reduction": 1.8182})
    page, _ = _export(nb)
    toc = re.findall(r'<li><a href="#(\w+)">Test cell</a> \(Score: ([\d.]+) / ([\d.]+)\)', page)
    assert [gid for gid, _, _ in toc] == HIDDEN, toc
    assert ("hidden_reduction", "1.82", "2.0") in toc
    assert "0.0 / 0.0" not in page
    assert "1.8182" not in page and "Out[" not in page
    assert page.count("msg OK") == len(HIDDEN)  # the messages stay
    # the self-checks are still on the page, as plain cells
    assert "Self-check 1" in page and 'name="selfcheck_strings"' not in page
    graded = [c for c in nb.cells if "hidden_check(" in c.get("source", "")]
    assert all(c.outputs[-1].output_type == "execute_result" for c in graded)


# --- the student's own figure --------------------------------------------------------------------


def test_the_kernel_sends_a_students_figure_as_png(tmp_path, monkeypatch):
    """``plt.show()`` in a kernel started as the pipeline starts it gives an image/png output."""
    from jupyter_client import KernelManager

    spec = tmp_path / "jupyter" / "kernels" / "figtest"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "autograde.kernel", "--", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", "Agg")  # the server's own setting must not matter
    km = KernelManager(kernel_name="figtest")
    km.start_kernel(cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)
        outs = []
        code = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()"
        reply = kc.execute_interactive(code, timeout=120, output_hook=outs.append)
        assert reply["content"]["status"] == "ok"
        shown = [m for m in outs if m["msg_type"] == "display_data"]
        assert shown and "image/png" in shown[0]["content"]["data"], [m["msg_type"] for m in outs]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


# --- the whole page, from a graded class ---------------------------------------------------------


@pytest.mark.nbgrader
@pytest.mark.slow
def test_graded_pages_need_no_network_and_show_the_students_figure(tmp_path):
    course = demo.make_course(
        tmp_path / "course", REPO, A, {"alice": ("right", ""), "bob": ("partly", "")}
    )
    env = dict(os.environ, **{settings.BACKEND_ENV: "runtime", settings.CACHE_ENV: str(tmp_path)})
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    cmd = [sys.executable, "-m", "autograde", "grade", A, "--timeout", "60", "--memory", "3000"]
    if shutil.which("bwrap") is None:
        cmd.append("--no-sandbox")
    done = subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    scores = gradebook_scores(course, A, HIDDEN)
    assert sum(scores["alice"].values()) == 10  # grading unchanged
    assert 0 < sum(scores["bob"].values()) < 10
    for student in ("alice", "bob"):
        nb = json.loads((course / "autograded" / student / A / f"{A}.ipynb").read_text())
        hidden = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id")]
        hidden = [c for c in hidden if c["metadata"]["nbgrader"]["grade_id"] in HIDDEN]
        kinds = [o["output_type"] for c in hidden for o in c["outputs"]]
        assert "execute_result" in kinds  # nbgrader still reads the partial credit there
        figure = [
            o
            for c in nb["cells"]
            if "plt.show()" in _text(c["source"])
            for o in c.get("outputs", [])
            if "image/png" in o.get("data", {})
        ]
        assert len(figure) == 1, f"{student}'s 'Try it out' figure is not in the graded notebook"
        page = (course / "feedback" / student / A / f"{A}.html").read_text()
        parsed = _Page()
        parsed.feed(page)
        assert parsed.remote == [] and parsed.math > 20
        assert "0.0 / 0.0" not in page and "Out[" not in page
        png = "".join(figure[0]["data"]["image/png"]).strip()
        assert png[:200] in page, f"{student}'s figure is not on the feedback page"
