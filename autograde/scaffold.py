"""``autograde new-assignment NAME``: a working skeleton of a new assignment.

It writes two things, and touches nothing else:

- ``source/NAME/NAME.ipynb`` in the course folder: the nbgrader source notebook (task text, the
  parameters, one answer cell with a ``BEGIN SOLUTION`` region, a visible self-check worth no
  points, one hidden test that hands the answer over with
  :func:`graders.notebook.hidden_check`), following the conventions of the course's notebooks
  and ``nbgrader_config.py``;
- ``graders/assignments/NAME/``, in the ``graders`` package this Python imports: the grader
  (cases, network, one check, one feedback plot, sample answers), copied from the templates in
  ``autograde/templates/assignment/``. The registry (:mod:`graders.assignments`) finds it there.

As generated, the assignment is a leaky integrate-and-fire neuron under constant drives. It
releases (``autograde release NAME``) and grades (``autograde grade NAME``) end to end; the
instructor then replaces the task, the cases, the network and the checks with their own
(README: "Writing an assignment").
"""

from __future__ import annotations

import keyword
import os
import re
import tempfile
from pathlib import Path

import nbformat

import graders.assignments

TEMPLATES = Path(__file__).resolve().parent / "templates" / "assignment"
NAME_RE = re.compile(r"[a-z][a-z0-9_]*")
MAX_NAME = 40
POINTS = 2  # of the one hidden test, in the notebook and in the package's ``points``


class ScaffoldError(ValueError):
    """NAME is invalid or taken; the message says which and what to do."""


def check_name(name: str, course: Path, assignments_dir: Path) -> None:
    """Raise :class:`ScaffoldError` unless ``name`` can be a new assignment here.

    A name is a Python identifier in lower case (it is a package name, an nbgrader assignment
    name and a folder name), not a keyword, and neither its source folder nor its package
    exists yet (nothing is ever overwritten).
    """
    if not NAME_RE.fullmatch(name) or len(name) > MAX_NAME:
        raise ScaffoldError(
            f"invalid assignment name {name!r}: use lower-case letters, digits and underscores, "
            f"starting with a letter, at most {MAX_NAME} characters (e.g. 'stdp_traces')"
        )
    if keyword.iskeyword(name) or name in {"base", "plotting"}:
        raise ScaffoldError(
            f"invalid assignment name {name!r}: it is a Python keyword or a module of "
            "graders.assignments; choose another"
        )
    for path in (course / "source" / name, assignments_dir / name, assignments_dir / f"{name}.py"):
        if path.exists():
            raise ScaffoldError(
                f"{path} exists already; nothing was written. Choose another name, or remove "
                "that folder first"
            )
    if not (course / "nbgrader_config.py").is_file():
        raise ScaffoldError(
            f"{course} is not a course folder (no nbgrader_config.py); run this in the course "
            "folder or pass --course"
        )


def _md(cell_id: str, text: str):
    cell = nbformat.v4.new_markdown_cell(text.strip("\n"), id=cell_id)
    cell.metadata["nbgrader"] = {
        "grade": False,
        "grade_id": cell_id,
        "locked": True,
        "schema_version": 3,
        "solution": False,
    }
    return cell


def _code(cell_id: str, text: str, *, grade=False, solution=False, points=None):
    cell = nbformat.v4.new_code_cell(text.strip("\n"), id=cell_id)
    meta = {
        "grade": grade,
        "grade_id": cell_id,
        "locked": not solution,
        "schema_version": 3,
        "solution": solution,
    }
    if grade:
        meta["points"] = points
    cell.metadata["nbgrader"] = meta
    return cell


def notebook(name: str, title: str, points: int) -> nbformat.NotebookNode:
    """The source notebook of the skeleton (see the module docstring)."""
    intro = f"""
# {title}

*A skeleton written by `autograde new-assignment {name}`: replace this task with yours, and the
grader in `graders/assignments/{name}/` with one that checks it.*

A leaky integrate-and-fire neuron under a constant drive $I$ (in volts):

$$\\tau \\frac{{dv}}{{dt}} = v_r - v + I$$

* spike when $v > v_{{th}}$; at a spike, $v$ is reset to $v_r$;
* at the start of a simulation $v = v_r$ (the grader sets it) and $I$ is set from outside.

## Parameters

| Brian name | symbol | value |
| --- | --- | --- |
| `vr` | $v_r$, reset and resting potential | $-70$ mV |
| `vth` | $v_{{th}}$, threshold | $-50$ mV |
| `tau` | $\\tau$, membrane time constant | $20$ ms |
| `defaultclock.dt` | time step | $0.1$ ms |

## What you hand in

Python strings, in the answer cell below, exactly as you would pass them to Brian's
`NeuronGroup(N, model, threshold=threshold, reset=reset, method=method)`: `model` (the equations,
defining `v` and the input with the line `I : volt`), `threshold` and `reset`.

**How you are graded.** The grader runs your strings outside this notebook on its own drives and
with **other parameter values**; refer to the parameters only by their names (`vr`, `vth`,
`tau`). The hidden test checks that your neuron fires as often as a reference solution
(`rate`, {points} points).
"""
    parameters = """
# Parameters of the task (read-only).
from brian2 import *
import numpy as np

prefs.codegen.target = 'numpy'  # runs anywhere; the grader uses C++ or GeNN
defaultclock.dt = 0.1*ms

vr = -70*mV   # reset and resting potential
vth = -50*mV  # spike threshold
tau = 20*ms   # membrane time constant
"""
    answer_text = """
## Your answer

Replace the lines `# YOUR CODE HERE` and `raise NotImplementedError()` by definitions of the
strings `model`, `threshold` and `reset` (multi-line strings use triple quotes). Keep the names
of the variables: the grader reads `model`, `threshold`, `reset` and `method`.
"""
    answer = """
method = 'euler'  # integration method

### BEGIN SOLUTION
model = '''
dv/dt = (vr - v + I)/tau : volt
I : volt
'''
threshold = 'v > vth'
reset = 'v = vr'
### END SOLUTION
"""
    selfcheck_text = """
## Self-check

This cell uses only Brian2 and the task's parameters. Passing it does not guarantee full marks
(the hidden test uses other drives and parameter values), but failing it means something is
wrong.
"""
    # "neuron.v[:] = vr", not "neuron.v = vr": tests/test_release.py finds REFERENCE's reset,
    # "v = vr", in any release text that contains it, spaces removed.
    selfcheck = """
# Self-check: the answer has the required form, and one neuron fires at the rate the task's
# equation predicts, 1/(tau*log(I/(I - (vth - vr)))).
for name, value in [('model', model), ('threshold', threshold), ('reset', reset),
                    ('method', method)]:
    assert isinstance(value, str), f'{name} must be a string, not {type(value).__name__}'
eqs = Equations(model)
assert 'v' in eqs.diff_eq_names, 'v must be defined by a differential equation'
assert 'I' in eqs.parameter_names, "I must be a parameter, defined by the line 'I : volt'"
drive = 30*mV
neuron = NeuronGroup(1, model, threshold=threshold, reset=reset, method=method,
                     namespace=dict(vr=vr, vth=vth, tau=tau), name='selfcheck')
neuron.v[:] = vr
neuron.I = drive
spikes = SpikeMonitor(neuron)
net = Network(neuron, spikes)
net.run(500*ms, namespace={})
expected = 500*ms/(tau*np.log(drive/(drive - (vth - vr))))
assert abs(spikes.count[0] - expected) <= 2, (
    f'with I = {drive/mV:.0f} mV the neuron should fire about {expected:.0f} spikes in 500 ms; '
    f'yours fired {spikes.count[0]}')
print(f'{spikes.count[0]} spikes in 500 ms, as the equation predicts')
"""
    hidden_text = """
## Hidden test

The next cell grades your neuron on the grader's own drives and parameter values; it shows what
it found when the notebook is graded. Do not edit or delete it.
"""
    hidden = f"""
# Hidden test 'rate' ({points} points): as many spikes as a reference solution.
### BEGIN HIDDEN TESTS
from graders.notebook import hidden_check
hidden_check("{name}", "rate", model=model, threshold=threshold, reset=reset, method=method)
### END HIDDEN TESTS
"""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
            "name": "python3",
        },
        "language_info": {"name": "python", "pygments_lexer": "ipython3"},
    }
    nb.cells = [
        _md("intro", intro),
        _code("parameters", parameters),
        _md("answer-text", answer_text),
        _code("answer", answer, solution=True),
        _md("selfcheck-text", selfcheck_text),
        _code("selfcheck", selfcheck, grade=True, points=0),
        _md("hidden-text", hidden_text),
        _code("hidden_rate", hidden, grade=True, points=points),
    ]
    nbformat.validate(nb)
    return nb


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a scratch file in the same folder, then rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def default_assignments_dir() -> Path:
    """The folder the registry searches: ``graders/assignments`` of the imported ``graders``."""
    return Path(graders.assignments.__file__).resolve().parent


def new_assignment(
    name: str,
    course=".",
    *,
    title: str | None = None,
    assignments_dir: Path | None = None,
) -> list[Path]:
    """Write the skeleton of assignment ``name``; the files written.

    Parameters
    ----------
    name : str
        The assignment's name: a lower-case Python identifier (see :func:`check_name`).
    course : path
        The course folder (``nbgrader_config.py``, ``source/``).
    title : str, optional
        The task's title; default: the name in words.
    assignments_dir : Path, optional
        Where the grader package goes; default: :func:`default_assignments_dir`.

    Raises
    ------
    ScaffoldError
        ``name`` is invalid or taken, or ``course`` is not a course folder; nothing is written.
    """
    course = Path(course).resolve()
    pkg_root = Path(assignments_dir) if assignments_dir else default_assignments_dir()
    if "site-packages" in pkg_root.parts:
        # an installed copy: the package would be lost at the next install, and not in git
        raise ScaffoldError(
            f"graders is imported from an installed copy ({pkg_root}); install the course's "
            "repository editable (./dev setup, or pip install -e .) and run this again"
        )
    check_name(name, course, pkg_root)
    title = title or name.replace("_", " ").capitalize()
    if any(c in title for c in '"\\\n') or not title.strip():
        raise ScaffoldError(
            f"invalid title {title!r}: one line of text without double quotes or backslashes"
        )
    source = course / "source" / name
    package = pkg_root / name
    written = []
    # The package first: a source notebook without a grader would be picked up by nbgrader.
    package.mkdir()
    for template in sorted(TEMPLATES.glob("*.py.tmpl")):
        text = template.read_text()
        for key, value in (("name", name), ("title", title), ("points", str(POINTS))):
            text = text.replace("{{" + key + "}}", value)
        target = package / template.name.removesuffix(".tmpl")
        _write(target, text)
        written.append(target)
    source.mkdir(parents=True)
    nb_path = source / f"{name}.ipynb"
    _write(nb_path, nbformat.writes(notebook(name, title, POINTS)) + "\n")
    written.append(nb_path)
    return written
