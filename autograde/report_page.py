"""The class report's HTML page (:func:`autograde.report.write` gathers its data).

Readable for a class of 300 at 900 px: what needs attention first (grading failures, kernel
deaths, time and memory limits, tampering, not answered), then the failure clusters per check,
the score plot, and the students by score, lowest first, each row's reasons folded into
``<details>``. Plain static HTML: no script, nothing fetched.
"""

from __future__ import annotations

import html

from .feedback import img


def _row(cells: list[str], tag: str = "td") -> str:
    return "<tr>" + "".join(f"<{tag}>{html.escape(str(c))}</{tag}>" for c in cells) + "</tr>"


def _points(p: float, m: float) -> str:
    return f"{p:.2f}".rstrip("0").rstrip(".") + f"/{m:g}"


# Readable at 900 px: the page is at most 60em wide, images scale down, the students' table
# scrolls inside its own box if it must, and reasons are folded into <details>.
_STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em;line-height:1.4}"
    "img{max-width:100%;height:auto}.scroll{overflow-x:auto}table{border-collapse:collapse}"
    "td,th{padding:3px 6px;text-align:left;vertical-align:top;border-bottom:1px solid #ddd}"
    "td.full{background:#e6f4ea}td.part{background:#fff4d6}td.zero{background:#fde7e7}"
    "td.num{white-space:nowrap}details{max-width:40em}summary{cursor:pointer}"
    ".why{font-size:90%;overflow-wrap:anywhere}"
)
# Names listed per failure cluster; the rest are counted.
CLUSTER_NAMES = 20


def _link(name: str, feedback: str | None) -> str:
    name = html.escape(name)
    return f'<a href="{html.escape(feedback)}">{name}</a>' if feedback else name


def _attention_html(data: dict, links: dict) -> list[str]:
    """The "needs attention" list: one folded group per kind, students by name."""
    e = html.escape
    needs = data["needs_attention"]
    people = len({n["student"] for n in needs})
    parts = [f'<h2 id="attention">Needs attention: {people} of {_count(data)} students</h2>']
    if not needs:
        return [*parts, "<p>No grading failure, kernel death, time or memory limit, tampering or "
                "unanswered notebook.</p>"]  # fmt: skip
    if data["grading_failures"]:
        parts.append(
            "<p>Grading failures are the grader's side, not the students' answers: fix the "
            "cause and run <code>autograde grade</code> again (it grades only what is "
            "missing).</p>"
        )
    for kind in data["attention_kinds"]:
        group = [n for n in needs if n["kind"] == kind]
        if not group:
            continue
        label = "student" if len(group) == 1 else "students"
        parts.append(f"<details open><summary><b>{e(kind)}</b>: {len(group)} {label}</summary>")
        parts.append('<table class="why">')
        for n in group:
            who = _link(n["student"], links.get(n["student"]))
            parts.append(f"<tr><td>{who}</td><td>{e(n['detail'])}</td></tr>")
        parts.append("</table></details>")
    return parts


def _count(data: dict) -> int:
    return len(data["students"]) + len(data["grading_failures"])


def _clusters_html(data: dict, names: list[str]) -> list[str]:
    e = html.escape
    parts = ["<h2>Failure clusters per check</h2>"]
    parts.append("<p>Numbers are blanked (#) so that students who failed alike count together.</p>")
    for c in names:
        common = data["common_failures"].get(c) or []
        parts.append(f"<h3>{e(c)}</h3>")
        if not common:
            parts.append("<p>every graded student earned full marks</p>")
            continue
        parts.append('<div class="scroll"><table class="why">')
        parts.append("<tr><th>students</th><th>reason</th><th>who</th></tr>")
        for item in common:
            who = item["students"][:CLUSTER_NAMES]
            more = len(item["students"]) - len(who)
            listed = ", ".join(who) + (f" and {more} more" if more > 0 else "")
            parts.append(_row([item["count"], item["reason"], listed]))
        parts.append("</table></div>")
    return parts


def _students_html(data: dict, names: list[str]) -> list[str]:
    """Students by score, lowest first; each row's reasons and notes folded."""
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in names)
    parts = [
        "<h2>Students, lowest score first</h2>",
        '<div class="scroll"><table><tr><th>student</th><th>score</th>'
        f"{head}<th>why points were lost</th></tr>",
    ]
    for r in sorted(data["students"], key=lambda r: (r["score"], r["student"])):
        cells = [f"<td>{_link(r['student'], r['feedback'])}</td>"]
        cells.append(f'<td class="num">{_points(r["score"], r["max_score"])}</td>')
        for c in names:
            rec = r["checks"].get(c)
            if rec is None:
                cells.append("<td>-</td>")
                continue
            full = rec["points"] >= rec["max_points"] - 1e-9
            cls = "full" if full else "zero" if rec["points"] <= 0 else "part"
            cells.append(f'<td class="{cls} num">{_points(rec["points"], rec["max_points"])}</td>')
        reasons = [(c, v["reason"]) for c, v in r["checks"].items() if v["reason"]]
        if len(reasons) == len(r["checks"]) > 1 and len({w for _, w in reasons}) == 1:
            lines = [f"<b>every check</b>: {e(reasons[0][1])}"]  # not answered, kernel died...
            title = f"every check: {reasons[0][1].split(' (')[0][:60]}"
        else:
            lines = [f"<b>{e(c)}</b>: {e(w)}" for c, w in reasons]
            title = ", ".join(c for c, _ in reasons)
        lines += [f"<i>{e(n)}</i>" for n in r["notes"]]
        if r["backend"] and r["backend"] != data.get("backend"):
            lines.append(f"<i>graded on {e(r['backend'])}</i>")
        if not lines:
            cells.append("<td>-</td>")
        else:
            title = title or "notes"
            body = "<br>".join(lines)
            cells.append(
                f'<td class="why"><details><summary>{e(title)}</summary>{body}</details></td>'
            )
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table></div>")
    return parts


def page(assignment: str, data: dict, facts: list, figure: str, rates: dict) -> str:
    """The whole page: ``data`` from :func:`autograde.report.class_rows` (with ``backend``, the
    class's usual one), ``facts`` as (label, value) rows, ``figure`` a base64 PNG, ``rates``
    check -> (full marks, graded)."""
    e = html.escape
    links = {r["student"]: r["feedback"] for r in data["students"]}
    names = [c["name"] for c in data["checks"]]
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{e(assignment)}: class summary</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{e(assignment)}: class summary</h1>",
        "<table>" + "".join(_row(list(f)) for f in facts) + "</table>",
        *_attention_html(data, links),
        *_clusters_html(data, names),
        "<h2>Scores and pass rates</h2>"
        + img(figure, "score distribution and pass rate per check"),
        "<table><tr><th>check</th><th>full marks</th></tr>",
    ]
    for check, (p, n) in rates.items():
        parts.append(_row([check, f"{p}/{n} ({100 * p / n:.0f}%)" if n else "-"]))
    parts.append("</table>")
    parts += _students_html(data, names)
    parts.append("</body></html>")
    return "\n".join(parts)
