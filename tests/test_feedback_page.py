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
from autograde.jobs import StudentStatus
from autograde.preprocessors import FeedbackCells, TrustedVerdicts
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


# --- incidents as one banner, notes once (issue 26 item 5) --------------------------------------

DIED = (
    "the kernel died while running this notebook (out of memory, os._exit, sys.exit in a thread "
    "or a crash in compiled code)"
)


def _code(n, source="x = 1", outputs=(), **meta):
    nbg = {k: v for k, v in meta.items() if k in ("solution", "grade", "locked", "grade_id")}
    ours = {k: v for k, v in meta.items() if k in ("skipped", "timed_out")}
    return {
        "cell_type": "code",
        "execution_count": n,
        "source": source,
        "outputs": list(outputs),
        "metadata": {"nbgrader": nbg, "autograde": ours},
    }


def _err(ename, evalue=""):
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": []}


def _graded_notebook(*middle, incident=None):
    """A graded notebook as the page shows it: markdown, then In [1] (parameters), In [2] (the
    answer), the given cells, and two hidden tests (skipped when the run stopped early)."""
    skipped = {"skipped": incident} if incident else {}
    cells = [
        {"cell_type": "markdown", "source": "# Task", "metadata": {}},
        _code(1, "vr = -70*mV", locked=True),
        _code(2, "model = '...'", solution=True),
        *middle,
        _code(None, "hidden_check(...)", grade=True, locked=True, **skipped),
        _code(None, "hidden_check(...)", grade=True, locked=True, **skipped),
    ]
    meta = {"autograde": {"incident": incident}} if incident else {}
    return {"cells": cells, "metadata": meta}


def test_a_dead_kernel_is_one_banner_naming_the_cell_as_the_page_numbers_it():
    from autograde import feedback

    nb = _graded_notebook(
        _code(3, "run(1*second)", [_err("DeadKernelError", DIED)], locked=True), incident=DIED
    )
    lines = feedback.incidents(nb)
    assert lines == [
        "The kernel died while In [3] (a provided cell) ran (out of memory, os._exit, sys.exit "
        "in a thread or a crash in compiled code), so the cells after it did not run and their "
        "tests score 0."
    ]
    page = "<html><head></head><body class='jp'><main>notebook</main></body></html>"
    block = feedback.banner(lines)
    once = feedback.insert_banner(page, block)
    assert once.index("<body class='jp'>") < once.index("In [3]") < once.index("<main>")
    assert feedback.insert_banner(once, block) == once  # made again: still one banner
    assert "code cell" not in once


@pytest.mark.parametrize(
    "cells, incident, said",
    [
        (
            [_code(3, "while True: pass", locked=False, solution=True, timed_out=120)],
            None,
            "In [3] (your answer cell) ran past the cell time limit (120 s) and was interrupted.",
        ),
        (
            [_code(3, "x = [0]*10**12", [_err("MemoryError")])],
            None,
            "In [3] raised MemoryError: it went past the kernel's memory limit.",
        ),
        (
            [_code(3, "slow()", locked=True), _code(4, "slower()", locked=True)],
            "the notebook ran past the limit of 900 s for a whole submission",
            "The notebook stopped after In [4] (a provided cell): the notebook ran past the limit "
            "of 900 s for a whole submission; the cells after it did not run and their tests "
            "score 0.",
        ),
        ([_code(3)], None, None),
    ],
)
def test_each_incident_names_the_cell_by_its_in_number(cells, incident, said):
    from autograde import feedback

    lines = feedback.incidents(_graded_notebook(*cells, incident=incident))
    assert lines == ([said] if said else [])
    assert feedback.banner(lines) == ("" if said is None else feedback.banner([said]))


def test_inject_puts_the_banner_on_top_and_checks_that_did_not_run_say_it_once(tmp_path):
    from autograde import course as coursedir
    from autograde import feedback

    recs = {
        f"hidden_{c}": {"check": c, "points": 0.0, "max_points": 2.0, "status": "not_run",
                        "message": f"No answer was handed over by this cell: {DIED}."}
        for c in ("reduction", "jump")
    }  # fmt: skip
    status = {
        "student": "heidi",
        "assignment": A,
        "ok": True,
        "checks": {A: recs},
        "incidents": {A: DIED},
    }
    path = coursedir.status_path(tmp_path, A, "heidi")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(status))
    graded = tmp_path / "autograded" / "heidi" / A / f"{A}.ipynb"
    graded.parent.mkdir(parents=True)
    graded.write_text(
        json.dumps(_graded_notebook(_code(3, "", [_err("DeadKernelError", DIED)]), incident=DIED))
    )
    page = tmp_path / "feedback" / "heidi" / A / f"{A}.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html><body><p>nbgrader's page</p></body></html>")
    assert feedback.inject(tmp_path, A) == [page]
    text = page.read_text()
    assert text.index("While your notebook was graded") < text.index("nbgrader's page")
    assert text.count("The kernel died while In [3]") == 1
    assert text.count(DIED) == 0  # the long incident is in the banner's own words only
    assert text.count("This test did not run: see what happened at the top") == 2


def test_a_note_on_the_answer_is_said_once_and_the_rewrite_only_on_genn():
    from autograde import exports, feedback, report
    from graders.assignments import get
    from graders.spec import notes_for, validate

    spec = json.loads((REPO / "tests/bank/ei_balance/right_canonical.json").read_text())["spec"]
    _, notes = validate(get("ei_balance"), spec)
    assert any("rewrote 'Ii_post -= w*mV'" in n for n in notes)
    assert notes_for(notes, "cpp_standalone") == notes_for(notes, "runtime") == []
    assert notes_for(notes + notes, "genn") == notes_for(notes, "genn-cpu") == notes
    cells = {
        f"hidden_{c}": {"check": c, "points": 1.0, "max_points": 2.0, "status": "graded",
                        "message": f"{c} message", "notes": notes}
        for c in ("balance", "convergence", "effect", "rule")
    }  # fmt: skip
    block = feedback.section("ei_balance", cells, {"plots": {}})
    assert block.count("rewrote &#x27;Ii_post -= w*mV&#x27;") == 1
    status = StudentStatus("bob", "ei_balance", ok=True, score=4.0, checks={"ei_balance": cells})
    out = exports.gradescope_results(status)["output"]
    assert out.count("rewrote 'Ii_post -= w*mV'") == 1
    assert all("rewrote" not in t["output"] for t in exports.gradescope_results(status)["tests"])
    (row,) = report.class_rows("/nonexistent", "ei_balance", [status])["students"]
    assert sum("rewrote" in n for n in row["notes"]) == 1
    assert all("rewrote" not in v["reason"] for v in row["checks"].values())


def test_trusted_verdicts_keep_notes_beside_the_checks_not_in_each_message(monkeypatch):
    import graders
    from graders.notebook import spec_line
    from graders.results import CheckResult, Verdict

    note = "on_pre: you wrote 5 where the task names the parameter 'eta'"
    verdict = Verdict(
        "ei_balance",
        "genn",
        [CheckResult("balance", 3, 0.5, "half of it"), CheckResult("rule", 2, 1.0, "right")],
        [note],
    )
    monkeypatch.setattr(graders, "check", lambda *a, **k: verdict)
    tv = TrustedVerdicts()
    tv._expected = {f"hidden_{c}": ("ei_balance", c) for c in ("balance", "rule")}
    tv._verdicts, tv._cells, tv._incident, tv._not_answered, tv._backend = {}, {}, None, False, None
    for check, points in (("balance", 3), ("rule", 2)):
        cell = from_dict(
            {
                "cell_type": "code",
                "execution_count": 5,
                "source": "",
                "metadata": {
                    "nbgrader": {"grade": True, "grade_id": f"hidden_{check}", "points": points}
                },  # fmt: skip
                "outputs": [
                    {
                        "output_type": "stream",
                        "name": "stdout",
                        "text": spec_line("ei_balance", check, {"model": "w : 1"}) + "\n",
                    }
                ],  # fmt: skip
            }
        )
        cell, _ = tv.preprocess_cell(cell, {}, 0)
        assert note not in json.dumps(cell.outputs)  # not under every test cell
    recs = tv._cells
    assert recs["hidden_balance"]["message"] == "half of it"
    assert recs["hidden_balance"]["notes"] == recs["hidden_rule"]["notes"] == [note]
