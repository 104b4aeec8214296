"""What went wrong while a student's notebook was graded, as one banner atop the feedback page.

The cells are named by the number the page shows ("In [3] (your answer cell)"), each incident
once: a cell time limit, a ``MemoryError``, a dead kernel, a notebook stopped by a limit or by
a kernel that no longer answered.
"""

from __future__ import annotations

import html
import re

BANNER_BEGIN = "<!-- autograde-incident:begin -->"
BANNER_END = "<!-- autograde-incident:end -->"
META = "autograde"  # autograde.preprocessors.common.META, without importing nbgrader here


def _label(cell: dict) -> str:
    """A code cell as the feedback page shows it: "In [3]", and whose cell it is."""
    n = cell.get("execution_count")
    meta = cell.get("metadata", {}).get("nbgrader", {})
    whose = (
        " (your answer cell)"
        if meta.get("solution")
        else " (a test cell)"
        if meta.get("grade")
        else " (a provided cell)"
        if meta.get("locked")
        else ""
    )
    return f"In [{n if n is not None else ' '}]{whose}"


def incidents(nb: dict, incident: str | None = None) -> list[str]:
    """What went wrong while the graded notebook ran, each once, naming the cell by the
    number its page shows ("In [3] ran past the cell time limit ..."), not by its index.

    ``nb`` is the autograded notebook (JSON), ``incident`` the run's incident as the status
    file keeps it (else the notebook's own record).
    """
    incident = incident or nb.get("metadata", {}).get(META, {}).get("incident")
    out, died, last_run = [], False, None
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata", {}).get(META, {})
        names = {o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"}
        if meta.get("timed_out") is not None:
            out.append(
                f"{_label(cell)} ran past the cell time limit ({meta['timed_out']:g} s) and was "
                "interrupted."
            )
        if "MemoryError" in names:
            out.append(
                f"{_label(cell)} raised MemoryError: it went past the kernel's memory limit."
            )
        if "DeadKernelError" in names:
            why = (incident or "").partition("(")[2].rstrip(")")
            out.append(
                f"The kernel died while {_label(cell)} ran"
                + (f" ({why})" if why else "")
                + ", so the cells after it did not run and their tests score 0."
            )
            died = True
        if not meta.get("skipped") and cell.get("execution_count") is not None:
            last_run = cell
    if incident and not died:
        after = f" after {_label(last_run)}" if last_run is not None else ""
        if "ran past the limit" in incident:
            out.append(
                f"The notebook stopped{after}: {incident}; the cells after it did not run and "
                "their tests score 0."
            )
        else:
            out.append(
                f"The notebook stopped{after}: {incident}; the tests that did not run score 0."
            )
    return out


def banner(lines: list[str]) -> str:
    """One banner for the top of the feedback page ("" without incidents)."""
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(t)}</li>" for t in lines)
    return (
        f'{BANNER_BEGIN}<div class="autograde-incident" role="alert" style="max-width:60em;'
        "margin:1em auto;padding:0.6em 1em;border:2px solid #c62828;background:#fdecea;"
        'font-family:sans-serif"><b>While your notebook was graded:</b>'
        f"<ul style='margin:0.3em 0'>{items}</ul></div>{BANNER_END}"
    )


def insert_banner(page: str, block: str) -> str:
    """``page`` with ``block`` right after ``<body>``, replacing an earlier banner."""
    page = re.sub(re.escape(BANNER_BEGIN) + ".*?" + re.escape(BANNER_END), "", page, flags=re.S)
    m = re.search(r"<body[^>]*>", page)
    return block + page if m is None else page[: m.end()] + block + page[m.end() :]
