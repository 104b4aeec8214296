"""The class report: what an instructor reads first after grading an assignment.

``reports/<assignment>/summary.html`` in the course folder is plain static HTML (no script, no
CDN): the score distribution and pass rate per check (one PNG), a table with one row per student
(score, points per check, why each check lost points in a few words, what happened while the
notebook ran, a link to the student's feedback page), the most common failure reasons per check
with their counts, and the grading failures (the grader's side, not a low score) apart.
``summary.json`` and ``summary.csv`` beside it hold the same data for scripts and spreadsheets.
It is written at the end of every ``autograde grade`` from the status files, so it covers
earlier runs' students too. :func:`summary` is the same in short, printed when ``autograde grade``
ends.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

from graders.assignments import get

from .course import write_atomic
from .feedback import _figure, to_png

REPORTS_DIR = "reports"

# A check's status (set by autograde.preprocessors.TrustedVerdicts, or the simulation's verdict)
# -> the reason, in a few words, that it earned nothing.
_STATUS_WORDS = {
    "not_answered": "not answered (the answer cell still raises NotImplementedError)",
    "tampered": "tampering detected (the test cell handed nothing over)",
    "timeout": "the simulation ran past its time limit",
    "memory": "the simulation ran out of memory",
    "crashed": "the simulation crashed",
}


def pass_rates(statuses: list[dict], assignment: str | None = None) -> dict[str, tuple[int, int]]:
    """``check -> (full marks, graded)`` over the graded submissions, in the assignment's order
    when it is given."""
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
    return {k: (out[k][0], out[k][1]) for k in sorted(out, key=_ranker(assignment))}


def _ranker(assignment: str | None):
    """Sort key of check names: the assignment's order (as its feedback lists them)."""
    try:
        order = list(get(assignment).points) if assignment else []
    except KeyError:  # not registered here: the order the status files give
        order = []
    return lambda name: order.index(name) if name in order else len(order)


def reason(rec: dict) -> str:
    """Why a check earned less than full marks, in a few words ("" when it earned them all)."""
    if rec.get("points", 0) >= rec.get("max_points", 0) - 1e-9:
        return ""
    status = rec.get("status", "graded")
    message = " ".join((rec.get("message") or "").split())
    if status in _STATUS_WORDS:
        return _STATUS_WORDS[status]
    if status == "not_run":
        cause = message.partition(": ")[2].rstrip(".") or "the notebook stopped"
        return f"not run: {cause}"
    if status == "no_spec":
        m = re.search(r"stopped with ([^.]*)", message)
        return f"no answer handed over ({m.group(1)})" if m else "no answer handed over"
    if status == "invalid_spec":
        return "invalid answer: " + message.removeprefix("your answer cannot be graded: ")
    return f"wrong: {message}" if message else "wrong"


# "11 of 14 neurons wrong; e.g. hidden case 1, neuron 3: " -- which case a check quotes as its
# example differs between students who made the same mistake.
# The count, the points and the example's place: "3 of 14 neurons of the hidden cases fail this
# check: 11/14 of 2 points = 1.57; in one of them, " (and the older "3 of 14 neurons wrong; e.g.
# hidden case 4, neuron 2: ").
_EXAMPLE = re.compile(
    r"^(wrong: )\d+ of \d+ "
    r"(?:[^;]* fails? this check[^;]*; in one of them, |[^;,:]* wrong[;,] e\.g\. [^:]*: )"
)


def pattern(text: str) -> str:
    """A reason without its example case and numbers, so that students who failed alike count
    together."""
    return re.sub(r"(?<!\w)[-+]?\d+(?:\.\d+)?", "#", _EXAMPLE.sub(r"\1", text))


def _checks(assignment: str, statuses: list[dict]) -> list[tuple[str, float]]:
    """Every check with its points, in the assignment's order (as its feedback lists them)."""
    seen: dict[str, float] = {}
    for s in statuses:
        for cells in (s.get("checks") or {}).values():
            for rec in cells.values():
                seen.setdefault(rec["check"], rec.get("max_points", 0.0))
    rank = _ranker(assignment)
    return sorted(seen.items(), key=lambda kv: rank(kv[0]))


def feedback_link(course: Path, assignment: str, student: str) -> str | None:
    """The student's feedback page, relative to the report, if it exists."""
    page = course / "feedback" / student / assignment / f"{assignment}.html"
    return f"../../feedback/{student}/{assignment}/{assignment}.html" if page.is_file() else None


def class_rows(course, assignment: str, statuses: list[dict]) -> dict:
    """The report's data: one row per student, failure reasons per check, grading failures."""
    course = Path(course)
    checks = _checks(assignment, statuses)
    students, failures = [], []
    by_check: dict[str, Counter] = {c: Counter() for c, _ in checks}
    who: dict[tuple[str, str], list[str]] = {}
    for s in sorted(statuses, key=lambda r: r.get("student", "")):
        name = s.get("student", "?")
        if not s.get("ok"):
            failures.append({"student": name, "error": (s.get("error") or "?").strip()})
            continue
        row: dict = {
            "student": name,
            "score": round(float(s.get("score") or 0.0), 2),
            "max_score": float(s.get("max_score") or 0.0),
            "backend": s.get("backend") or "",
            "seconds": s.get("seconds", 0.0),
            "checks": {},
            "notes": [],
            "feedback": feedback_link(course, assignment, name),
        }
        for cells in (s.get("checks") or {}).values():
            for rec in cells.values():
                why = reason(rec)
                row["checks"][rec["check"]] = {
                    "points": rec.get("points", 0.0),
                    "max_points": rec.get("max_points", 0.0),
                    "status": rec.get("status", "graded"),
                    "reason": why,
                }
                if why:
                    key = pattern(why)
                    by_check.setdefault(rec["check"], Counter())[key] += 1
                    who.setdefault((rec["check"], key), []).append(name)
        for nb, text in (s.get("incidents") or {}).items():
            row["notes"].append(f"{nb}: {text}")
        for nb, events in (s.get("events") or {}).items():
            row["notes"] += [f"{nb}: {e}" for e in events]
        students.append(row)
    common = {
        check: [
            {"reason": key, "count": n, "students": who[(check, key)]}
            for key, n in counter.most_common()
        ]
        for check, counter in by_check.items()
    }
    return {
        "assignment": assignment,
        "checks": [{"name": c, "max_points": p} for c, p in checks],
        "students": students,
        "common_failures": common,
        "grading_failures": failures,
    }


def figure_png(statuses: list[dict], assignment: str | None = None) -> str:
    """Base64 PNG: histogram of scores (left) and pass rate per check (right)."""
    fig, (ax1, ax2) = _figure(10, 3.4, ncols=2)
    graded = [s for s in statuses if s.get("ok")]
    maxes = [s.get("max_score") or 0 for s in graded]
    top = max(maxes) if maxes else 1
    scores = [s.get("score", 0) for s in graded]
    bins = np.arange(0, top + 2) - 0.5 if top <= 30 else 15
    ax1.hist(scores, bins=bins, color="C0", edgecolor="white")
    ax1.set(xlabel=f"score (of {top:g})", ylabel="submissions", title="score distribution")
    rates = pass_rates(statuses, assignment)
    names = list(rates)
    pct = [100 * p / n if n else 0 for p, n in rates.values()]
    ax2.barh(names[::-1], pct[::-1], color="C2")
    ax2.set(xlim=(0, 100), xlabel="full marks (% of graded)", title="pass rate per check")
    return to_png(fig)


def _row(cells: list[str], tag: str = "td") -> str:
    return "<tr>" + "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in cells) + "</tr>"


def _points(p: float, m: float) -> str:
    return f"{p:.2f}".rstrip("0").rstrip(".") + f"/{m:g}"


def to_csv(data: dict) -> str:
    """One row per student: score, points per check, the reasons and notes."""
    names = [c["name"] for c in data["checks"]]
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["student", "score", "max_score", *names, "why points were lost", "notes"])
    for r in data["students"]:
        pts = [r["checks"].get(c, {}).get("points", "") for c in names]
        why = "; ".join(f"{c}: {v['reason']}" for c, v in r["checks"].items() if v["reason"])
        w.writerow([r["student"], r["score"], r["max_score"], *pts, why, "; ".join(r["notes"])])
    for f in data["grading_failures"]:
        w.writerow([f["student"], "", "", *[""] * len(names), "", "grading failed: " + f["error"]])
    return out.getvalue()


_STYLE = (
    "body{font-family:sans-serif;max-width:90em;margin:2em auto;padding:0 1em}"
    "td,th{padding:3px 8px;text-align:left;vertical-align:top;border-bottom:1px solid #ddd}"
    "table{border-collapse:collapse}td.full{background:#e6f4ea}td.part{background:#fff4d6}"
    "td.zero{background:#fde7e7}.why{font-size:90%;max-width:40em}"
)


def write(course, assignment: str, statuses: list[dict], wall_s: float | None = None) -> Path:
    """Write ``reports/<assignment>/summary.html`` (and ``.json``, ``.csv``); return the page."""
    course = Path(course)
    data = class_rows(course, assignment, statuses)
    rows = data["students"]
    backends = sorted({r["backend"] for r in rows if r["backend"]})
    secs = [r["seconds"] for r in rows]
    scores = [r["score"] for r in rows]
    facts = [
        ("submissions", len(statuses)),
        ("graded", len(rows)),
        ("grading failures (the grader's side, not a low score)", len(data["grading_failures"])),
        ("backend", ", ".join(backends) or "-"),
        ("mean score", f"{np.mean(scores):.2f}" if scores else "-"),
        ("median score", f"{np.median(scores):.2f}" if scores else "-"),
        (
            "time per submission",
            f"mean {np.mean(secs):.1f} s, max {max(secs):.1f} s" if secs else "-",
        ),
    ]
    if wall_s is not None:
        facts.append(("wall time of the last run", f"{wall_s:.1f} s"))
    e = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{e(assignment)}: class summary</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{e(assignment)}: class summary</h1>",
        "<table>" + "".join(_row(list(f)) for f in facts) + "</table>",
        f'<img alt="score distribution and pass rate per check" '
        f'src="data:image/png;base64,{figure_png(statuses, assignment)}"/>',
        "<h2>Pass rate per check</h2><table><tr><th>check</th><th>full marks</th></tr>",
    ]
    for check, (p, n) in pass_rates(statuses, assignment).items():
        parts.append(_row([check, f"{p}/{n} ({100 * p / n:.0f}%)" if n else "-"]))
    parts.append("</table>")
    if data["grading_failures"]:
        parts.append(
            "<h2>Grading failures</h2><p>These submissions were not graded because the grader "
            "failed, not because of their answers; fix the cause and run <code>autograde "
            "grade</code> again (it grades only what is missing).</p>"
            "<table><tr><th>student</th><th>why</th></tr>"
        )
        for f in data["grading_failures"]:
            parts.append(_row([f["student"], f["error"].splitlines()[0][:300]]))
        parts.append("</table>")
    names = [c["name"] for c in data["checks"]]
    parts.append(
        "<h2>Students</h2><table><tr><th>student</th><th>score</th>"
        + "".join(f"<th>{e(c)}</th>" for c in names)
        + "<th>why points were lost</th><th>notes</th><th>seconds</th><th>backend</th></tr>"
    )
    for r in rows:
        name = e(r["student"])
        link = f'<a href="{e(r["feedback"])}">{name}</a>' if r["feedback"] else name
        cells = [f"<td>{link}</td>", f"<td>{_points(r['score'], r['max_score'])}</td>"]
        for c in names:
            rec = r["checks"].get(c)
            if rec is None:
                cells.append("<td>-</td>")
                continue
            full = rec["points"] >= rec["max_points"] - 1e-9
            cls = "full" if full else "zero" if rec["points"] <= 0 else "part"
            cells.append(f'<td class="{cls}">{_points(rec["points"], rec["max_points"])}</td>')
        reasons = [(c, v["reason"]) for c, v in r["checks"].items() if v["reason"]]
        if len(reasons) == len(r["checks"]) > 1 and len({w for _, w in reasons}) == 1:
            why = f"<b>every check</b>: {e(reasons[0][1])}"  # not answered, kernel died, ...
        else:
            why = "<br>".join(f"<b>{e(c)}</b>: {e(w)}" for c, w in reasons)
        cells.append(f'<td class="why">{why or "-"}</td>')
        cells.append(f'<td class="why">{"<br>".join(e(n) for n in r["notes"]) or "-"}</td>')
        cells.append(f"<td>{r['seconds']:.1f}</td><td>{e(r['backend'] or '-')}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table><h2>Most common failure reasons per check</h2>")
    parts.append("<p>Numbers are blanked (#) so that students who failed alike count together.</p>")
    for c in names:
        common = data["common_failures"].get(c) or []
        parts.append(f"<h3>{e(c)}</h3>")
        if not common:
            parts.append("<p>every graded student earned full marks</p>")
            continue
        parts.append("<table><tr><th>students</th><th>reason</th><th>who</th></tr>")
        for item in common:
            parts.append(_row([item["count"], item["reason"], ", ".join(item["students"][:20])]))
        parts.append("</table>")
    parts.append("</body></html>")
    folder = course / REPORTS_DIR / assignment
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "summary.json", json.dumps(data, indent=1, default=str))
    write_atomic(folder / "summary.csv", to_csv(data))
    out = folder / "summary.html"
    write_atomic(out, "\n".join(parts))
    return out


def summary(statuses: list[dict], assignment: str) -> str:
    """One screen: graded, failed and why, backend, time per submission, pass rate per check."""
    graded = [s for s in statuses if s.get("ok")]
    failed = [s for s in statuses if not s.get("ok")]
    lines = [f"{assignment}: {len(graded)} graded, {len(failed)} grading failures"]
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
            notes = [f"{k}: {v}" for k, v in (s.get("incidents") or {}).items()]
            notes += [e for events in (s.get("events") or {}).values() for e in events]
            note = "; ".join(notes)
            score = f"{s.get('score', 0):.2f}/{s.get('max_score', 0):g}"
        else:
            note = "FAILED: " + (s.get("error") or "?").splitlines()[0][:70]
            score = "-"
        lines.append(f"{s.get('student', '?'):<20} {score:>12}  {note[:90]}")
    rates = pass_rates(statuses, assignment)
    if rates:
        lines.append("")
        lines.append(
            "pass rate per check: "
            + ", ".join(f"{k} {100 * p / n:.0f}%" for k, (p, n) in rates.items())
        )
    return "\n".join(lines)
