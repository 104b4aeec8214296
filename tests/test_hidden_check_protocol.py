"""The ``hidden_check`` protocol read back from a cell's text: one reader
(:func:`graders.notebook.hidden_calls`), and its two consumers agree on every cell.

``TrustedVerdicts`` (which check a hidden cell stands for, from the gradebook's copy of the
source) and the batch builds' ``hidden_fields`` (which variables hold the answer) must read the
same call the same way, and both must read it as Python binds it when the cell runs.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

import graders.notebook
from autograde import batches
from autograde.preprocessors import TrustedVerdicts
from graders import assignments
from graders.notebook import HiddenCall, cell_check, hidden_calls

REPO = Path(__file__).resolve().parent.parent
AT = "adaptive_threshold"
BOTH = {"model": "model", "threshold": "threshold"}
#: How Python binds a call's arguments to ``hidden_check``'s parameters.
SIGNATURE = inspect.signature(graders.notebook.hidden_check)

#: name -> (cell source, the calls the reader must find, whether the cell runs as Python)
TRICKY = {
    "positional": (
        f'hidden_check("{AT}", "jump", model=model, threshold=threshold)',
        [HiddenCall(AT, "jump", BOTH)],
        True,
    ),
    "keyword_order": (
        f'hidden_check("{AT}", "jump", threshold=threshold, model=model)',
        [HiddenCall(AT, "jump", BOTH)],
        True,
    ),
    "named_first_two": (
        f'hidden_check(check="jump", model=model, assignment="{AT}", threshold=threshold)',
        [HiddenCall(AT, "jump", BOTH)],
        True,
    ),
    "check_named": (
        f'hidden_check("{AT}", check="jump", model=model)',
        [HiddenCall(AT, "jump", {"model": "model"})],
        True,
    ),
    "module_attribute": (
        f'import graders.notebook\ngraders.notebook.hidden_check("{AT}", "rest", model=model)',
        [HiddenCall(AT, "rest", {"model": "model"})],
        True,
    ),
    "fields_not_plain_names": (
        f'hidden_check("{AT}", "jump", model=model, threshold="v > vth", reset=cfg.reset,'
        " method=None, **extra)",
        [HiddenCall(AT, "jump", {"model": "model"})],
        False,
    ),
    "no_fields": (f'hidden_check("{AT}", "jump")', [HiddenCall(AT, "jump", {})], True),
    "computed_assignment": ('hidden_check(name, "jump", model=model)', [], True),
    # Python computes a string here; the protocol takes literals only, so the reader refuses
    "computed_check": (f'hidden_check("{AT}", "ju" + "mp", model=model)', [], False),
    "f_string_check": (f'hidden_check("{AT}", f"{{c}}", model=model)', [], False),
    "starred": ("hidden_check(*args, model=model)", [], False),
    "bound_twice": (f'hidden_check("{AT}", "jump", check="rest", model=model)', [], False),
    "in_a_comment": (f'# hidden_check("{AT}", "jump", model=model)\nx = 1', [], True),
    "in_a_string": (f's = \'hidden_check("{AT}", "jump", model=model)\'', [], True),
    "trailing_comment": (
        f'hidden_check("{AT}", "jump", model=model)  # hidden_check("{AT}", "rest")',
        [HiddenCall(AT, "jump", {"model": "model"})],
        True,
    ),
    "another_function": (
        f'check("{AT}", "jump", model=model)\nhidden_checks("{AT}", "jump", model=model)\n'
        f'grader.hidden_check_all("{AT}", "jump", model=model)',
        [],
        True,
    ),
    "nested_in_a_block": (
        f'if ready:\n    hidden_check("{AT}", "decay", model=model)',
        [HiddenCall(AT, "decay", {"model": "model"})],
        True,
    ),
    "two_calls_last_wins": (
        f'hidden_check("{AT}", "jump", model=m1)\nhidden_check("{AT}", "rest", model=m2)',
        [HiddenCall(AT, "jump", {"model": "m1"}), HiddenCall(AT, "rest", {"model": "m2"})],
        True,
    ),
    "ipython_syntax": (f'%time hidden_check("{AT}", "jump", model=model)', [], False),
    "not_python": ('hidden_check("a", "b", model=model', [], False),
}


class _Var(str):
    """A variable of the cell, standing for itself: its value is its own name (calling it
    does nothing; its attributes are expressions, not variables)."""

    def __call__(self, *args, **kwargs):
        return None

    def __getattr__(self, attr):
        return _Expr(f"{self}.{attr}")


class _Expr(str):
    """An expression's value (an attribute of a variable), which the reader never takes."""

    def __call__(self, *args, **kwargs):
        return None


class _Names(dict):
    def __missing__(self, name):
        return _Var(name)


def _as_python_binds(source: str, monkeypatch) -> list[HiddenCall]:
    """Run ``source`` with a recording ``hidden_check``: the calls as Python binds them, those
    whose assignment and check are strings the cell wrote (not variables)."""
    seen = []

    def record(*args, **kwargs):
        bound = SIGNATURE.bind(*args, **kwargs).arguments
        seen.append(bound)

    monkeypatch.setattr(graders.notebook, "hidden_check", record)
    namespace = _Names(hidden_check=record, __builtins__=__builtins__)
    exec(source, {"__builtins__": __builtins__}, namespace)
    out = []
    for b in seen:
        if isinstance(b["assignment"], _Var) or isinstance(b["check"], _Var):
            continue
        fields = {k: v for k, v in b.get("fields", {}).items() if isinstance(v, _Var)}
        out.append(HiddenCall(b["assignment"], b["check"], fields))
    return out


def _trusted(tmp_path: Path, cells: dict[str, str]) -> dict[str, tuple[str, str]]:
    """What ``TrustedVerdicts`` reads from a gradebook holding ``cells`` (name -> source)."""
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.add_assignment("ps")
        gb.add_notebook("nb", "ps")
        for name, source in cells.items():
            gb.add_source_cell(name, "nb", "ps", cell_type="code", source=source)
    resources = {"nbgrader": {"db_url": url, "notebook": "nb", "assignment": "ps"}}
    return TrustedVerdicts()._trusted_checks(resources)


def _one_cell(source: str) -> dict:
    return {"cells": [{"cell_type": "code", "source": source}]}


@pytest.fixture(scope="module")
def trusted_tricky(tmp_path_factory):
    return _trusted(tmp_path_factory.mktemp("gb"), {k: v[0] for k, v in TRICKY.items()})


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_the_reader_and_both_consumers_agree_on_tricky_cells(name, trusted_tricky, monkeypatch):
    source, expected, runs = TRICKY[name]
    assert hidden_calls(source) == expected
    last = cell_check(source)
    assert last == (expected[-1] if expected else None)
    # TrustedVerdicts: the check the cell stands for
    assert trusted_tricky.get(name) == ((last.assignment, last.check) if last else None)
    # the batch builds: the variables the same call passes
    assert batches.hidden_fields(_one_cell(source)) == (last.fields if last else {})
    if runs:  # the reader reads what Python binds when the cell runs
        assert _as_python_binds(source, monkeypatch) == expected


@pytest.mark.parametrize("assignment", assignments.names())
def test_the_consumers_agree_on_the_seed_notebooks(assignment, tmp_path, monkeypatch):
    nb = json.loads((REPO / "source" / assignment / f"{assignment}.ipynb").read_text())
    cells = {}
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            name = cell["metadata"].get("nbgrader", {}).get("grade_id", f"cell-{i}")
            cells[name] = "".join(cell["source"])
    trusted = _trusted(tmp_path, cells)
    hidden = {n for n in cells if n.startswith("hidden_")}
    assert set(trusted) == hidden and len(hidden) == 5
    fields = batches.hidden_fields(nb)
    for name in hidden:
        call = cell_check(cells[name])
        assert trusted[name] == (assignment, call.check)
        assert call.fields == fields and set(fields) >= {"model", "method"}
        assert all(field == var for field, var in fields.items())  # model=model, ...
        assert _as_python_binds(cells[name], monkeypatch) == [call]
