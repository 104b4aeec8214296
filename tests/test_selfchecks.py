"""The visible self-checks never fail a right answer, and hold the grader's limits.

Every right answer in the banks is put into the source notebook, which must then run top to
bottom (hidden-test cells left out). Every limit a self-check applies is one of the grader's
constants (or stricter), read from the self-check cell and compared with
``graders.assignments.<name>.checks``; the task text states each of them.
"""

from __future__ import annotations

import ast
import importlib
import json
import math
import os
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from graders.assignments import get

ROOT = Path(__file__).resolve().parent.parent
CASES = [
    ("adaptive_threshold", "right_exact"),
    ("adaptive_threshold", "right_theta"),
    ("adaptive_threshold", "right_rearranged"),
    ("ei_balance", "right_clock_driven"),
    ("ei_balance", "right_renamed_traces"),
]


def with_answer(assignment: str, spec: dict):
    nb = nbformat.read(ROOT / "source" / assignment / f"{assignment}.ipynb", 4)
    defaults = {f.name: f.default for f in get(assignment).fields if f.default is not None}
    spec = {**defaults, **spec}
    keep = []
    for cell in nb.cells:
        md = cell.metadata.get("nbgrader", {})
        if md.get("grade_id", "").startswith("hidden"):
            continue
        if md.get("solution"):
            cell.source = "\n".join(f"{k} = {v!r}" for k, v in spec.items())
        keep.append(cell)
    nb.cells = keep
    return nb


@pytest.mark.slow
@pytest.mark.nbgrader
@pytest.mark.parametrize("assignment, name", CASES, ids=[f"{a}-{n}" for a, n in CASES])
def test_right_answer_passes_every_self_check(assignment, name, tmp_path, monkeypatch):
    spec = json.loads((ROOT / "tests" / "bank" / assignment / f"{name}.json").read_text())["spec"]
    nb = with_answer(assignment, spec)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PATH", f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}")
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    errors = [
        f"{c.metadata.get('nbgrader', {}).get('grade_id')}: {o.ename}: {o.evalue}"
        for c in nb.cells
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]
    assert not errors, errors


# --- the self-checks hold the grader's limits ------------------------------------------------

# Each constant a self-check names, the grader's constant it stands for (graders.assignments.
# <name>.checks) and how the self-check's may differ: "le" (a tolerance or margin: equal or
# smaller is as strict or stricter), "ge" (a required fraction: equal or larger).
GRADER_LIMITS = {
    "adaptive_threshold": {"JUMP_RTOL": "le", "DECAY_RTOL": "le", "REST_ATOL": "le"},
    "ei_balance": {
        "BALANCE_MARGIN": "le",
        "EFFECT_FRACTION": "ge",
        "DRIFT_MARGIN": "le",
        "MIN_CHANGE_FRAC": "ge",
        "RULE_ATOL": "le",
        "RULE_RTOL": "le",
    },
}
# The reference rule's figures with the task's parameters that a self-check stands in for the
# reference it cannot run: how each compares with what the reference reaches on the grader's
# cases with the task's parameters (see test_reference_figures_are_the_most_demanding).
REFERENCE_FIGURES = {
    "ei_balance": {
        "REFERENCE_BALANCE": "le",
        "REFERENCE_RATE": "le",
        "REFERENCE_DRIFT": "le",
        "REFERENCE_CHANGE": "ge",
    }
}
SI = {"volt": 1.0, "mV": 1e-3, "second": 1.0, "ms": 1e-3, "Hz": 1.0}


def _value(node: ast.expr) -> float:
    """A self-check constant's value in SI units: a number, or a number times a Brian unit."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        if isinstance(node.right, ast.Name) and node.right.id in SI:
            return _value(node.left) * SI[node.right.id]
    raise ValueError(f"not a number or a number times a unit: {ast.unparse(node)}")


def self_check_constants(assignment: str) -> dict[str, float]:
    """The upper-case constants the source notebook's self-check cells assign."""
    nb = nbformat.read(ROOT / "source" / assignment / f"{assignment}.ipynb", 4)
    found = {}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if cell.cell_type != "code" or not gid.startswith("selfcheck"):
            continue
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                name = getattr(node.targets[0], "id", "")
                if name.isupper():
                    found[name] = _value(node.value)
    return found


def task_text(assignment: str) -> str:
    nb = nbformat.read(ROOT / "source" / assignment / f"{assignment}.ipynb", 4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


@pytest.mark.parametrize("assignment", sorted(GRADER_LIMITS))
def test_self_checks_use_the_graders_limits_or_stricter(assignment):
    checks = importlib.import_module(f"graders.assignments.{assignment}.checks")
    found = self_check_constants(assignment)
    expected = set(GRADER_LIMITS[assignment]) | set(REFERENCE_FIGURES.get(assignment, {}))
    assert set(found) == expected, "a self-check constant without a grader's limit to match"
    for name, how in GRADER_LIMITS[assignment].items():
        mine, graders_ = found[name], float(getattr(checks, name))
        if how == "le":
            assert mine <= graders_ * (1 + 1e-12), f"{name}: self-check {mine} > grader {graders_}"
        else:
            assert mine >= graders_ * (1 - 1e-12), f"{name}: self-check {mine} < grader {graders_}"


def _percent(x: float) -> str:
    return f"{100 * x:g} %"


@pytest.mark.parametrize(
    "assignment, statements",
    [
        (
            "adaptive_threshold",
            lambda c: [
                _percent(c.JUMP_RTOL),
                _percent(c.DECAY_RTOL),
                f"$10^{{{round(math.log10(c.REST_ATOL / 1e-3))}}}$ mV",
                f"{c.SPIKE_TIME_TOL_STEPS * 0.1:g} ms** ({c.SPIKE_TIME_TOL_STEPS} time steps)",
            ],
        ),
        (
            "ei_balance",
            lambda c: [
                f"{100 * c.BALANCE_MARGIN:g} percentage points** of `Ie`",
                f"{_percent(c.MIN_CHANGE_FRAC)}** of the reference's change",
                f"{100 * c.DRIFT_MARGIN:g} percentage points** more",
                f"{_percent(c.EFFECT_FRACTION)}** of the way",
                f"${c.RULE_ATOL:g}\\,\\eta$ plus **{_percent(c.RULE_RTOL)}**",
                f"$10^{{{round(math.log10(c.IE_ATOL / 1e-3))}}}$ mV",
            ],
        ),
    ],
)
def test_task_text_states_every_graded_limit(assignment, statements):
    checks = importlib.import_module(f"graders.assignments.{assignment}.checks")
    text = " ".join(task_text(assignment).split())
    missing = [s for s in statements(checks) if " ".join(s.split()) not in text]
    assert not missing, f"the task text of {assignment} does not state {missing}"


@pytest.mark.slow
@pytest.mark.standalone
def test_reference_figures_are_the_most_demanding(tmp_path):
    """The reference's figures in ei_balance's self-check are, on every grader case with the
    task's parameters, at least as demanding as what the reference reaches there: so the
    self-check's limit is at most the grader's on the task's parameters."""
    from graders import harness
    from graders.assignments.ei_balance import checks
    from graders.spec import validate

    a = get("ei_balance")
    spec, _ = validate(a, a_reference_spec())
    cases = a.simulated_cases()
    obs = harness.simulate(
        "ei_balance", spec, cases=cases, backend="cpp_standalone", cache_dir=tmp_path
    ).observables
    sel, window = checks._late(obs)
    i0 = int(np.argmax(obs["t"] >= window[0]))
    task = [k for k, c in enumerate(cases) if c["params"] == dict(a.parameters)]
    assert len(task) >= 2  # hidden cases with the task's parameters, and the feedback case
    reached = {name: [] for name in REFERENCE_FIGURES["ei_balance"]}
    for k in task:
        w = obs[f"c{k}_r_w"].mean(axis=0)
        reached["REFERENCE_BALANCE"].append(abs(checks._ratio(obs, k, "r", sel)))
        reached["REFERENCE_RATE"].append(checks._rate(obs, k, "r", window))
        reached["REFERENCE_DRIFT"].append(abs(w[-1] - w[i0]) / abs(w[-1] - w[0]))
        reached["REFERENCE_CHANGE"].append(w[-1] - w[0])
    found = self_check_constants("ei_balance")
    for name, how in REFERENCE_FIGURES["ei_balance"].items():
        if how == "le":
            assert found[name] <= min(reached[name]), (name, found[name], reached[name])
        else:
            assert found[name] >= max(reached[name]), (name, found[name], reached[name])


def a_reference_spec() -> dict:
    return importlib.import_module("graders.assignments.ei_balance").REFERENCE
