"""The class summary, for the instructor: one HTML page per assignment and one screen of text.

``reports/<assignment>/summary.html`` in the course folder (:func:`write`) holds a PNG (score
distribution and pass rate per check) and tables: submissions graded and failed (with the
reason), backend, time per submission, and each student's score and incidents. It is written at
the end of every ``autograde grade`` from the status files, so it covers earlier runs' students
too. :func:`summary` is the same in short, printed when ``autograde grade`` ends.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from .feedback import _figure, to_png

REPORTS_DIR = "reports"


def pass_rates(statuses: list[dict]) -> dict[str, tuple[int, int]]:
    """``check -> (full marks, graded)`` over the graded submissions."""
    out: dict[str, list[int]] = {}
    for s in statuses:
        if not s.get("ok"):
            continue
        for cells in (s.get("checks") or {}).values():
            for rec in cells.values():
                passed = rec["points"] >= rec["max_points"] - 1e-9
                n = out.setdefault(rec["check"], [0, 0])
                n[0] += int(passed)
                n[1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def figure_png(statuses: list[dict]) -> str:
    """Base64 PNG: histogram of scores (left) and pass rate per check (right)."""
    fig, (ax1, ax2) = _figure(10, 3.4, ncols=2)
    graded = [s for s in statuses if s.get("ok")]
    maxes = [s.get("max_score") or 0 for s in graded]
    top = max(maxes) if maxes else 1
    scores = [s.get("score", 0) for s in graded]
    bins = np.arange(0, top + 2) - 0.5 if top <= 30 else 15
    ax1.hist(scores, bins=bins, color="C0", edgecolor="white")
    ax1.set(xlabel=f"score (of {top:g})", ylabel="submissions", title="score distribution")
    rates = pass_rates(statuses)
    names = list(rates)
    pct = [100 * p / n if n else 0 for p, n in rates.values()]
    ax2.barh(names[::-1], pct[::-1], color="C2")
    ax2.set(xlim=(0, 100), xlabel="full marks (% of graded)", title="pass rate per check")
    return to_png(fig)


def _row(cells: list[str]) -> str:
    return "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"


def write(course, assignment: str, statuses: list[dict], wall_s: float | None = None) -> Path:
    """Write ``reports/<assignment>/summary.html`` and return its path."""
    course = Path(course)
    graded = [s for s in statuses if s.get("ok")]
    failed = [s for s in statuses if not s.get("ok")]
    backends = sorted({s["backend"] for s in graded if s.get("backend")})
    secs = [s.get("seconds", 0.0) for s in graded]
    scores = [s.get("score", 0.0) for s in graded]
    facts = [
        ("submissions", len(statuses)),
        ("graded", len(graded)),
        ("failed", len(failed)),
        ("backend", ", ".join(backends) or "-"),
        ("mean score", f"{np.mean(scores):.2f}" if scores else "-"),
        (
            "time per submission",
            f"mean {np.mean(secs):.1f} s, max {max(secs):.1f} s" if secs else "-",
        ),
    ]
    if wall_s is not None:
        facts.append(("wall time of the last run", f"{wall_s:.1f} s"))
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(assignment)}: class summary</title>",
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}"
        "td,th{padding:2px 10px;text-align:left}</style></head><body>",
        f"<h1>{html.escape(assignment)}: class summary</h1>",
        "<table>" + "".join(_row(f) for f in facts) + "</table>",
        f'<img alt="score distribution and pass rate per check" '
        f'src="data:image/png;base64,{figure_png(statuses)}"/>',
        "<h2>Pass rate per check</h2><table><tr><th>check</th><th>full marks</th></tr>",
    ]
    for check, (p, n) in pass_rates(statuses).items():
        parts.append(_row([check, f"{p}/{n} ({100 * p / n:.0f}%)" if n else "-"]))
    parts.append("</table>")
    if failed:
        parts.append("<h2>Failed (not graded)</h2><table><tr><th>student</th><th>why</th></tr>")
        for s in failed:
            why = (s.get("error") or "?").strip().splitlines()
            parts.append(_row([s.get("student", "?"), why[0][:200] if why else "?"]))
        parts.append("</table>")
    parts.append(
        "<h2>Students</h2><table><tr><th>student</th><th>score</th><th>seconds</th>"
        "<th>backend</th><th>notes</th></tr>"
    )
    for s in sorted(statuses, key=lambda r: r.get("student", "")):
        if s.get("ok"):
            score = f"{s.get('score', 0):g}/{s.get('max_score', 0):g}"
            note = "; ".join(f"{k}: {v}" for k, v in (s.get("incidents") or {}).items())
        else:
            score, note = "-", "FAILED"
        row = [s.get("student", "?"), score, f"{s.get('seconds', 0):.1f}", s.get("backend") or "-"]
        parts.append(_row([*row, note]))
    parts.append("</table></body></html>")
    out = course / REPORTS_DIR / assignment / "summary.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(parts))
    return out


def summary(statuses: list[dict], assignment: str) -> str:
    """One screen: graded, failed and why, backend, time per submission, pass rate per check."""
    graded = [s for s in statuses if s.get("ok")]
    failed = [s for s in statuses if not s.get("ok")]
    lines = [f"{assignment}: {len(graded)} graded, {len(failed)} failed"]
    backends = sorted({s["backend"] for s in graded if s.get("backend")})
    lines.append(f"backend: {', '.join(backends) or '-'}")
    if graded:
        secs = [s.get("seconds", 0) for s in graded]
        lines.append(
            f"time per submission: mean {sum(secs) / len(secs):.1f} s, max {max(secs):.1f} s"
        )
    lines.append("")
    lines.append(f"{'student':<20} {'score':>12}  notes")
    for s in sorted(statuses, key=lambda r: r.get("student", "")):
        if s.get("ok"):
            note = "; ".join(f"{k}: {v}" for k, v in (s.get("incidents") or {}).items())
            score = f"{s.get('score', 0):g}/{s.get('max_score', 0):g}"
        else:
            note = "FAILED: " + (s.get("error") or "?").splitlines()[0][:70]
            score = "-"
        lines.append(f"{s.get('student', '?'):<20} {score:>12}  {note[:90]}")
    rates = pass_rates(statuses)
    if rates:
        lines.append("")
        lines.append(
            "pass rate per check: "
            + ", ".join(f"{k} {100 * p / n:.0f}%" for k, (p, n) in rates.items())
        )
    return "\n".join(lines)
