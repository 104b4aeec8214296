"""``autograde new-assignment NAME``: a working skeleton of a new assignment.

It writes two things, and touches nothing else:

- ``source/NAME/NAME.ipynb`` in the course folder: the nbgrader source notebook (task text, the
  parameters, one answer cell with a ``BEGIN SOLUTION`` region, a visible self-check worth no
  points, one hidden test that hands the answer over with
  :func:`graders.notebook.hidden_check`), following the conventions of the course's notebooks
  and ``nbgrader_config.py``, filled in from ``autograde/templates/notebook/source.ipynb.tmpl``;
- ``graders/assignments/NAME/``, in the ``graders`` package this Python imports: the grader
  (cases, network, one check, one feedback plot, sample answers), copied from the templates in
  ``autograde/templates/assignment/``. The registry (:mod:`graders.assignments`) finds it there.

As generated, the assignment is a leaky integrate-and-fire neuron under constant drives. It
releases (``autograde release NAME``) and grades (``autograde grade NAME``) end to end; the
instructor then replaces the task, the cases, the network and the checks with their own
(README: "Writing an assignment").
"""

from __future__ import annotations

import json
import keyword
import os
import re
import tempfile
from pathlib import Path

import nbformat

import graders.assignments

TEMPLATES = Path(__file__).resolve().parent / "templates" / "assignment"
#: The source notebook's template (an nbgrader source notebook with placeholders). Its
#: self-check sets ``neuron.v[:] = vr``, not ``neuron.v = vr``: tests/test_release.py finds the
#: reference's reset, "v = vr", in any release text that holds it, spaces removed.
NOTEBOOK_TEMPLATE = TEMPLATES.parent / "notebook" / "source.ipynb.tmpl"
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


def fill(template: str, **values: str) -> str:
    """``template`` with each ``{{key}}`` replaced by ``values[key]``."""
    for key, value in values.items():
        template = template.replace("{{" + key + "}}", value)
    return template


def notebook(name: str, title: str, points: int) -> nbformat.NotebookNode:
    """The source notebook of the skeleton (see the module docstring), from
    :data:`NOTEBOOK_TEMPLATE`: a notebook whose text says ``{{name}}``, ``{{title}}`` and
    ``{{points}}`` where these go, and whose hidden cell's points are the string
    ``"{{points}}"`` (so that the template stays a notebook Jupyter opens)."""
    text = NOTEBOOK_TEMPLATE.read_text(encoding="utf-8")
    text = text.replace('"{{points}}"', str(int(points)))
    # inside JSON strings: escaped as JSON escapes them
    values = {"name": name, "title": title, "points": str(int(points))}
    text = fill(text, **{k: json.dumps(v)[1:-1] for k, v in values.items()})
    nb = nbformat.reads(text, as_version=4)
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
        text = fill(template.read_text(), name=name, title=title, points=str(POINTS))
        target = package / template.name.removesuffix(".tmpl")
        _write(target, text)
        written.append(target)
    source.mkdir(parents=True)
    nb_path = source / f"{name}.ipynb"
    _write(nb_path, nbformat.writes(notebook(name, title, POINTS)) + "\n")
    written.append(nb_path)
    return written
