"""Release an assignment: the student version, refused if it would leak a solution or a test."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .course import _nbgrader


def _regions(text: str, begin: str, end: str) -> list[str]:
    out, inside = [], False
    for line in text.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            out.append(line.strip())
    return out


def leaks(source_nb: Path, released_nb: Path) -> list[str]:
    """Lines of solutions or hidden tests in ``source_nb`` that reappear in ``released_nb``."""
    import nbformat

    src = nbformat.read(source_nb, as_version=4)
    rel = nbformat.read(released_nb, as_version=4)
    released = "\n".join(c.source for c in rel.cells)
    secret = []
    for cell in src.cells:
        secret += _regions(cell.source, "BEGIN SOLUTION", "END SOLUTION")
        secret += _regions(cell.source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
    found = [s for s in secret if len(s) > 12 and not s.startswith("#") and s in released]
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "hidden_check("):
        if marker in released:
            found.append(marker)
    return sorted(set(found))


def release(course, assignment: str) -> list[Path]:
    """Generate the student version into a scratch folder, refuse it if it leaks, then publish.

    Raises
    ------
    RuntimeError
        A solution or hidden-test line would reach students; nothing is written to ``release/``.
    """
    course = Path(course).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        _nbgrader(
            course,
            "generate_assignment",
            assignment,
            "--force",
            f"--CourseDirectory.release_directory={tmp}",
        )
        out = Path(tmp) / assignment
        problems = []
        for nb in sorted(out.glob("*.ipynb")):
            for line in leaks(course / "source" / assignment / nb.name, nb):
                problems.append(f"{nb.name}: {line}")
        if problems:
            raise RuntimeError("the release would leak:\n  " + "\n  ".join(problems))
        dest = course / "release" / assignment
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(out, dest)
    return sorted(dest.rglob("*"))
