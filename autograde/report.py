"""The class report: what an instructor reads first after grading an assignment.

``reports/<assignment>/summary.html`` in the course folder is plain static HTML (no script, no
CDN, :mod:`autograde.report_page`), readable for a class of 300 at 900 px: first what needs
attention (:func:`attention`: grading failures, the grader's side, then kernel deaths, time and
memory limits, tampering and unanswered notebooks, each student once per kind), then the most
common failure reasons per check with their counts, the score distribution and pass rate per
check (one PNG), and one row per student sorted by score (points per check, why each check lost
points in a few words and what happened while the notebook ran, folded into ``<details>``, a
link to the student's feedback page). ``summary.json`` and ``summary.csv`` beside it hold the
same data for scripts and spreadsheets. It is written at the end of every ``autograde grade``
from the status files, so it covers earlier runs' students too. :func:`summary` is the same in
short, printed when ``autograde grade`` ends.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

from graders.assignments import get
from graders.results import Status

from . import report_page
from .course import answer_notes, write_atomic
from .feedback import new_figure, to_png
from .jobs import StudentStatus

REPORTS_DIR = "reports"

# A check's status (set by autograde.preprocessors.TrustedVerdicts, or the simulation's verdict)
# -> the reason, in a few words, that it earned nothing.
_STATUS_WORDS = {
    Status.NOT_ANSWERED: "not answered (the answer cell still raises NotImplementedError)",
    Status.TAMPERED: "tampering detected (the test cell handed nothing over)",
    Status.TIMEOUT: "the simulation ran past its time limit",
    Status.MEMORY: "the simulation ran out of memory",
    Status.CRASHED: "the simulation crashed",
}


def pass_rates(
    statuses: list[StudentStatus], assignment: str | None = None
) -> dict[str, tuple[int, int]]:
    """``check -> (full marks, graded)`` over the graded submissions, in the assignment's order
    when it is given."""
    out: dict[str, list[int]] = {}
    for s in statuses:
        if not s.ok:
            continue
        for cells in s.checks.values():
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
    status = rec.get("status", Status.GRADED)
    message = " ".join((rec.get("message") or "").split())
    if status in _STATUS_WORDS:
        return _STATUS_WORDS[status]
    if status == Status.NOT_RUN:
        cause = message.partition(": ")[2].rstrip(".") or "the notebook stopped"
        return f"not run: {cause}"
    if status == Status.NO_SPEC:
        m = re.search(r"stopped with ([^.]*)", message)
        return f"no answer handed over ({m.group(1)})" if m else "no answer handed over"
    if status == Status.INVALID_SPEC:
        return "invalid answer: " + message.removeprefix("your answer cannot be graded: ")
    return f"wrong: {message}" if message else "wrong"


#: What needs an instructor's attention, in the order the report lists it.
ATTENTION = (
    "grading failure",
    "kernel died",
    "notebook not run",
    "time limit",
    "memory limit",
    "simulation crashed",
    "tampering",
    "not answered",
)
# A check's status -> its kind of attention (other statuses are the answer's own faults).
_STATUS_ATTENTION = {
    Status.TIMEOUT: "time limit",
    Status.MEMORY: "memory limit",
    Status.CRASHED: "simulation crashed",
    Status.TAMPERED: "tampering",
    Status.NOT_ANSWERED: "not answered",
}


def attention(status: StudentStatus) -> list[tuple[str, str]]:
    """What in one student's status needs an instructor's attention: ``(kind, detail)`` once
    per kind, in :data:`ATTENTION`'s order, the details of a kind joined ("checks jump,
    agreement" for a check status)."""
    texts: dict[str, list[str]] = {}
    checks: dict[str, list[str]] = {}

    def add(into: dict, kind: str, detail: str) -> None:
        if detail not in into.setdefault(kind, []):
            into[kind].append(detail)

    if not status.ok:
        add(texts, "grading failure", " ".join((status.error or "?").split())[:300])
    for nb, text in status.incidents.items():
        if "kernel died" in text:
            add(texts, "kernel died", f"{nb}: {text}")
        elif "ran past the limit" in text:
            add(texts, "time limit", f"{nb}: {text}")
        else:
            add(texts, "notebook not run", f"{nb}: {text}")
    for nb, events in status.events.items():
        for text in events:
            if "time limit" in text:
                add(texts, "time limit", f"{nb}: {text}")
            elif "MemoryError" in text:
                add(texts, "memory limit", f"{nb}: {text}")
    for cells in status.checks.values():
        for rec in cells.values():
            kind = _STATUS_ATTENTION.get(rec.get("status", Status.GRADED))
            if kind:
                add(checks, kind, rec["check"])
    out = []
    for kind in ATTENTION:
        details = list(texts.get(kind, []))
        if checks.get(kind):
            what = "check" if len(checks[kind]) == 1 else "checks"
            details.append(f"{what} {', '.join(checks[kind])}")
        if details:
            out.append((kind, "; ".join(details)))
    return out


# "11 of 14 neurons wrong; e.g. hidden case 1, neuron 3: " -- which case a check quotes as its
# example differs between students who made the same mistake.
# The count, the points and the example's place: "3 of 14 neurons of the hidden cases fail this
# check: 11/14 of 2 points = 1.57; in one of them, " (and "3 of 14 neurons wrong; e.g. hidden
# case 4, neuron 2: ", the wording of status files written before it, which a report still reads).
_EXAMPLE = re.compile(
    r"^(wrong: )\d+ of \d+ "
    r"(?:[^;]* fails? this check[^;]*; in one of them, |[^;,:]* wrong[;,] e\.g\. [^:]*: )"
)


def pattern(text: str) -> str:
    """A reason without its example case and numbers, so that students who failed alike count
    together."""
    return re.sub(r"(?<!\w)[-+]?\d+(?:\.\d+)?", "#", _EXAMPLE.sub(r"\1", text))


def _checks(assignment: str, statuses: list[StudentStatus]) -> list[tuple[str, float]]:
    """Every check with its points, in the assignment's order (as its feedback lists them)."""
    seen: dict[str, float] = {}
    for s in statuses:
        for cells in s.checks.values():
            for rec in cells.values():
                seen.setdefault(rec["check"], rec.get("max_points", 0.0))
    rank = _ranker(assignment)
    return sorted(seen.items(), key=lambda kv: rank(kv[0]))


def feedback_link(course: Path, assignment: str, student: str) -> str | None:
    """The student's feedback page, relative to the report, if it exists."""
    page = course / "feedback" / student / assignment / f"{assignment}.html"
    return f"../../feedback/{student}/{assignment}/{assignment}.html" if page.is_file() else None


def class_rows(course, assignment: str, statuses: list[StudentStatus]) -> dict:
    """The report's data: one row per student, failure reasons per check, grading failures."""
    course = Path(course)
    checks = _checks(assignment, statuses)
    students, failures = [], []
    by_check: dict[str, Counter] = {c: Counter() for c, _ in checks}
    who: dict[tuple[str, str], list[str]] = {}
    needs: list[dict] = []
    for s in sorted(statuses, key=lambda r: r.student):
        name = s.student
        needs += [{"student": name, "kind": k, "detail": d} for k, d in attention(s)]
        if not s.ok:
            failures.append({"student": name, "error": (s.error or "?").strip()})
            continue
        row: dict = {
            "student": name,
            "score": round(float(s.score or 0.0), 2),
            "max_score": float(s.max_score or 0.0),
            "backend": s.backend or "",
            "seconds": s.seconds,
            "checks": {},
            "notes": [],
            "feedback": feedback_link(course, assignment, name),
        }
        for cells in s.checks.values():
            for rec in cells.values():
                why = reason(rec)
                row["checks"][rec["check"]] = {
                    "points": rec.get("points", 0.0),
                    "max_points": rec.get("max_points", 0.0),
                    "status": rec.get("status", Status.GRADED),
                    "reason": why,
                }
                if why:
                    key = pattern(why)
                    by_check.setdefault(rec["check"], Counter())[key] += 1
                    who.setdefault((rec["check"], key), []).append(name)
        for nb, text in s.incidents.items():
            row["notes"].append(f"{nb}: {text}")
        for nb, events in s.events.items():
            row["notes"] += [f"{nb}: {e}" for e in events]
        for nb, cells in s.checks.items():
            row["notes"] += [f"{nb}: note: {n}" for n in answer_notes(cells)]
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
        # grading failures, kernel deaths, limits, tampering, not answered: by kind, then name
        "needs_attention": sorted(needs, key=lambda n: (ATTENTION.index(n["kind"]), n["student"])),
        "attention_kinds": list(ATTENTION),
    }


def figure_png(statuses: list[StudentStatus], assignment: str | None = None) -> str:
    """Base64 PNG: histogram of scores (left) and pass rate per check (right)."""
    fig, (ax1, ax2) = new_figure(10, 3.4, ncols=2)
    graded = [s for s in statuses if s.ok]
    maxes = [s.max_score or 0 for s in graded]
    top = max(maxes) if maxes else 1
    scores = [s.score for s in graded]
    bins = np.arange(0, top + 2) - 0.5 if top <= 30 else 15
    ax1.hist(scores, bins=bins, color="C0", edgecolor="white")
    ax1.set(xlabel=f"score (of {top:g})", ylabel="submissions", title="score distribution")
    rates = pass_rates(statuses, assignment)
    names = list(rates)
    pct = [100 * p / n if n else 0 for p, n in rates.values()]
    ax2.barh(names[::-1], pct[::-1], color="C2")
    ax2.set(xlim=(0, 100), xlabel="full marks (% of graded)", title="pass rate per check")
    return to_png(fig)


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


def write(
    course, assignment: str, statuses: list[StudentStatus], wall_s: float | None = None
) -> Path:
    """Write ``reports/<assignment>/summary.html`` (and ``.json``, ``.csv``); return the page.

    The page opens with what needs attention, then the failure clusters, then the students by
    score with their reasons folded.
    """
    course = Path(course)
    data = class_rows(course, assignment, statuses)
    rows = data["students"]
    backends = Counter(r["backend"] for r in rows if r["backend"])
    data["backend"] = backends.most_common(1)[0][0] if backends else ""
    secs = [r["seconds"] for r in rows]
    scores = [r["score"] for r in rows]
    kinds = Counter(n["kind"] for n in data["needs_attention"])
    facts = [
        ("submissions", len(statuses)),
        ("graded", len(rows)),
        (
            "needs attention",
            ", ".join(f"{kinds[k]} {k}" for k in ATTENTION if kinds[k]) or "nothing",
        ),
        ("grading failures (the grader's side, not a low score)", len(data["grading_failures"])),
        ("backend", ", ".join(sorted(backends)) or "-"),
        ("mean score", f"{np.mean(scores):.2f}" if scores else "-"),
        ("median score", f"{np.median(scores):.2f}" if scores else "-"),
        (
            "time per submission",
            f"mean {np.mean(secs):.1f} s, max {max(secs):.1f} s" if secs else "-",
        ),
    ]
    if wall_s is not None:
        facts.append(("wall time of the last run", f"{wall_s:.1f} s"))
    text = report_page.page(
        assignment, data, facts, figure_png(statuses, assignment), pass_rates(statuses, assignment)
    )
    folder = course / REPORTS_DIR / assignment
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "summary.json", json.dumps(data, indent=1, default=str))
    write_atomic(folder / "summary.csv", to_csv(data))
    out = folder / "summary.html"
    write_atomic(out, text)
    return out


def summary(statuses: list[StudentStatus], assignment: str) -> str:
    """One screen: graded, failed and why, backend, time per submission, pass rate per check."""
    graded = [s for s in statuses if s.ok]
    failed = [s for s in statuses if not s.ok]
    lines = [f"{assignment}: {len(graded)} graded, {len(failed)} grading failures"]
    kinds = Counter(kind for s in statuses for kind, _ in attention(s))
    if kinds:
        needs = ", ".join(f"{kinds[k]} {k}" for k in ATTENTION if kinds[k])
        lines.append(f"needs attention: {needs}")
    backends = sorted({s.backend for s in graded if s.backend})
    lines.append(f"backend: {', '.join(backends) or '-'}")
    if graded:
        secs = [s.seconds for s in graded]
        lines.append(
            f"time per submission: mean {sum(secs) / len(secs):.1f} s, max {max(secs):.1f} s"
        )
    lines.append("")
    lines.append(f"{'student':<20} {'score':>12}  notes")
    for s in sorted(statuses, key=lambda r: r.student):
        if s.ok:
            notes = [f"{k}: {v}" for k, v in s.incidents.items()]
            notes += [e for events in s.events.values() for e in events]
            note = "; ".join(notes)
            score = f"{s.score:.2f}/{s.max_score:g}"
        else:
            note = "FAILED: " + (s.error or "?").splitlines()[0][:70]
            score = "-"
        lines.append(f"{s.student:<20} {score:>12}  {note[:90]}")
    rates = pass_rates(statuses, assignment)
    if rates:
        lines.append("")
        lines.append(
            "pass rate per check: "
            + ", ".join(f"{k} {100 * p / n:.0f}%" for k, (p, n) in rates.items())
        )
    return "\n".join(lines)
