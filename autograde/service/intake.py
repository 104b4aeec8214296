"""What a submission must be before the service keeps it; each refusal says what to do.

Checked before a byte is stored (:meth:`autograde.service.store.Store.accept` runs only on what
passes): file names (a notebook's plain name, never a path), JSON, a valid notebook, a notebook
of this assignment (its graded cells' ids), locked cells unchanged (nbgrader's checksums, as
``nbgrader validate`` compares them) and the size cap (checked while the body is read, in
:mod:`autograde.service.app`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
from nbgrader.utils import compute_checksum, is_locked

from .store import Refused

#: A notebook's file name as the exchange sends it: no folder, no leading dot.
NOTEBOOK_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_. -]{0,127}\.ipynb$")


def released(course: Path, assignment: str) -> dict[str, nbformat.NotebookNode]:
    """The released notebooks of ``assignment`` (``release/<assignment>/*.ipynb``) by file name."""
    folder = Path(course) / "release" / assignment
    return {p.name: nbformat.read(p, as_version=4) for p in sorted(folder.glob("*.ipynb"))}


def _ids(nb) -> dict[str, dict]:
    """grade_id -> cell, of the cells nbgrader knows."""
    out = {}
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid:
            out[gid] = cell
    return out


def _unchanged(released_nb, got: dict[str, dict]) -> int:
    """How many locked cells of ``released_nb`` are in ``got`` (grade_id -> cell) unchanged."""
    n = 0
    for gid, cell in _ids(released_nb).items():
        stored = cell.metadata.nbgrader.get("checksum")
        if is_locked(cell) and stored and gid in got and compute_checksum(got[gid]) == stored:
            n += 1
    return n


def check_name(name: str) -> None:
    if "/" in name or "\\" in name or ".." in name or "\0" in name:
        raise Refused(
            400,
            f"the file name {name!r} has a path in it: send the notebook under its own name "
            "(e.g. adaptive_threshold.ipynb), as `nbgrader submit` does",
        )
    if not NOTEBOOK_NAME.match(name):
        raise Refused(
            400,
            f"{name!r} is not a notebook's file name (letters, digits, '_', '-', '.', ending "
            "in .ipynb): submit the assignment's .ipynb files only",
        )


def parse_body(body: bytes) -> dict[str, str]:
    """``{"files": {name: notebook text}}`` from a request body, or :class:`Refused` (400)."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise Refused(
            400,
            'the request is not JSON: send {"files": {"NAME.ipynb": "<the notebook\'s '
            'text>"}}, as `nbgrader submit` with autograde.exchange does',
        ) from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict) or not files:
        raise Refused(
            400,
            'the request has no "files": send {"files": {"NAME.ipynb": "<the notebook\'s '
            'text>"}} with at least one notebook',
        )
    for name, text in files.items():
        check_name(name)
        if not isinstance(text, str):
            raise Refused(400, f"{name}: send the notebook's text as a string")
    return files


def _notebook(name: str, text: str):
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # noqa: BLE001 -- JSON, schema and version errors alike
        why = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise Refused(
            422,
            f"{name} is not a Jupyter notebook ({why}): submit the .ipynb file of the "
            "assignment, saved by Jupyter",
        ) from None
    return nb


def check_files(
    course: Path, assignment: str, files: dict[str, str], others: list[str]
) -> dict[str, bytes]:
    """The submission's notebooks as bytes to store, or :class:`Refused` with the reason.

    ``others`` are the course's other assignments, to name the one a wrong notebook belongs to.
    """
    mine = released(course, assignment)
    out = {}
    for name, text in sorted(files.items()):
        if name not in mine:
            raise Refused(
                422,
                f"{name} is not a notebook of {assignment} (its notebooks: "
                f"{', '.join(mine) or 'none'}): submit the assignment's own notebooks",
            )
        nb = _notebook(name, text)
        want, got = _ids(mine[name]), _ids(nb)
        ours = _unchanged(mine[name], got)
        # Assignments share cell ids (intro, parameters, answer): the locked cells' contents
        # tell whose notebook it is.
        theirs = {a: max((_unchanged(r, got) for r in released(course, a).values()), default=0)
                  for a in others}  # fmt: skip
        best = max(theirs, key=theirs.get, default=None)
        if best is not None and theirs[best] > ours:
            raise Refused(
                422,
                f"{name} is not {assignment}'s notebook: it looks like {best}'s. Submit the "
                f"notebook you fetched for {assignment}",
            )
        if not set(want) & set(got):
            raise Refused(
                422,
                f"{name} is not {assignment}'s notebook (none of its graded cells are in it): "
                f"submit the notebook you fetched for {assignment}",
            )
        for gid, cell in want.items():
            if not is_locked(cell):
                continue
            sent = got.get(gid)
            if sent is None:
                continue  # a deleted locked cell is put back when grading (add_missing_cells)
            stored = cell.metadata.nbgrader.get("checksum")
            if stored and compute_checksum(sent) != stored:
                raise Refused(
                    422,
                    f"{name}: the cell {gid!r} is locked and was changed. Fetch a fresh copy "
                    "(download it from your page, or move your folder aside and run nbgrader "
                    "fetch_assignment), copy your answers into its answer cells, and submit that",
                )
        out[name] = text.encode()
    return out
