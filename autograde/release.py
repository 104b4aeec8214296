"""Release an assignment: the student version, refused if it leaks solutions or hidden tests.

:func:`release` runs ``nbgrader generate_assignment`` into a scratch folder and publishes it to
``release/`` only if :func:`leaks` finds nothing there of the source notebook's solutions and
hidden tests. :func:`find_leaks` is the one leak checker of the project: ``tests/test_release.py``
applies it to the committed ``release/`` too (with the grader's reference strings as further
secrets).

What counts as a leak: a secret line (of a ``BEGIN SOLUTION`` or ``BEGIN HIDDEN TESTS`` region)
that appears in a released text as a whole line, or anywhere as a substring once it has at least
:data:`SUBSTRING_MIN` characters, whitespace ignored in both; lines that are harmless or
unavoidable in any student version (:data:`BORING`: comments, quotes, brackets, ``pass``) are
skipped. nbgrader's markers and the hidden-test call (:data:`MARKERS`) must not appear at all.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import nbformat

from .course import generate

#: Secret lines shorter than this (whitespace removed) only count as leaks when a released line is
#: exactly the same; longer ones also count as substrings anywhere in a released text.
SUBSTRING_MIN = 10
#: Lines of solutions and hidden tests that are harmless or unavoidable in the student version.
BORING = re.compile(r"^(#.*|'''|\"\"\"|[)\]}]+|pass|)$")
#: Text that must not reach students at all: nbgrader's region markers, the hidden-test call.
MARKERS = ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "hidden_check(")


def squash(text: str) -> str:
    """``text`` without whitespace."""
    return re.sub(r"\s+", "", text)


def region_lines(source: str, begin: str, end: str) -> list[str]:
    """The lines strictly between ``### BEGIN ...`` and ``### END ...`` markers."""
    out, inside = [], False
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            out.append(line)
    return out


def secret_lines(source_nb: Path) -> list[str]:
    """Every line of the solution and hidden-test regions of a source notebook."""
    secret = []
    for cell in nbformat.read(source_nb, as_version=4).cells:
        secret += region_lines(cell.source, "BEGIN SOLUTION", "END SOLUTION")
        secret += region_lines(cell.source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
    return secret


def release_texts(path: Path, root: Path | None = None) -> list[tuple[str, list[str]]]:
    """Each file of ``path`` (a file or a folder) as ``(label, lines)``.

    Notebooks come twice: as raw text and cell by cell. Labels are paths relative to ``root``
    (default: the folder of ``path``).
    """
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    out = []
    for file in [path] if path.is_file() else sorted(path.rglob("*")):
        if not file.is_file():
            continue
        label = str(file.relative_to(root))
        out.append((label, file.read_text(encoding="utf-8", errors="replace").splitlines()))
        if file.suffix == ".ipynb":
            nb = nbformat.read(file, as_version=4)
            for k, cell in enumerate(nb.cells):
                out.append((f"{label} cell {k}", cell.source.splitlines()))
    return out


def _leaked(secrets, texts):
    """``(secret line, label of the first text it is found in)`` for every leaked line."""
    for secret in secrets:
        s = squash(secret)
        if not s or BORING.match(secret.strip()):
            continue
        for label, lines in texts:
            exact = any(squash(line) == s for line in lines)
            inside = len(s) >= SUBSTRING_MIN and s in squash("\n".join(lines))
            if exact or inside:
                yield secret.strip(), label
                break


def find_leaks(secret_lines, texts) -> list[str]:
    """The ``secret_lines`` found in ``texts`` (``(label, lines)`` pairs), as ``'line' in label``.

    See the module docstring for what counts.
    """
    return [f"{line!r} in {label}" for line, label in _leaked(secret_lines, texts)]


def leaks(source_nb: Path, released: Path) -> list[str]:
    """Lines of solutions or hidden tests in ``source_nb`` that reappear in ``released``.

    ``released`` is a released notebook (or a folder of released files). Returns the leaked lines
    (stripped) and the :data:`MARKERS` found, sorted; empty where nothing leaks.
    """
    texts = release_texts(released)
    found = [line for line, _ in _leaked(secret_lines(source_nb), texts)]
    for marker in MARKERS:
        if any(marker in "\n".join(lines) for _, lines in texts):
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
        out = generate(course, assignment, Path(tmp))
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
