"""The class report an instructor reads first: per student and per check, why points were lost,
the most common failure reasons, grading failures apart, as HTML (no CDN), JSON and CSV."""

from __future__ import annotations

import csv
import json
import re
import sys
from dataclasses import replace
from pathlib import Path

from autograde import report
from autograde.jobs import StudentStatus

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import class_report  # noqa: E402  (the benchmark's generated class)

A = "adaptive_threshold"


def _rec(check, points, max_points=2.0, status="graded", message=""):
    return {
        "check": check,
        "points": points,
        "max_points": max_points,
        "status": status,
        "message": message,
    }


def _student(name, *recs, **extra):
    return StudentStatus(
        name,
        A,
        ok=True,
        score=sum(r["points"] for r in recs),
        max_score=sum(r["max_points"] for r in recs),
        backend="runtime",
        seconds=2.0,
        checks={A: {f"hidden_{r['check']}": r for r in recs}},
        **extra,
    )


WRONG = (
    "3 of 14 neurons wrong; e.g. hidden case {}, neuron 2: the reference fires 7 spikes, yours {}"
)

CLASS = [
    _student("alice", _rec("jump", 2), _rec("agreement", 3, 3)),
    _student(
        "bob",
        _rec("jump", 1.5, message="at each spike vth should rise by vth_inc; yours by less"),
        _rec("agreement", 0, 3, message=WRONG.format(1, 21)),
    ),
    _student("carol", _rec("jump", 2), _rec("agreement", 0, 3, message=WRONG.format(4, 30))),
    _student(
        "dave",
        _rec("jump", 0, status="not_answered", message="Your answer cell still raises"),
        _rec("agreement", 0, 3, status="not_answered", message="Your answer cell still raises"),
    ),
    _student(
        "erin",
        _rec("jump", 0, status="not_run", message="No answer was handed over: the kernel died."),
        _rec("agreement", 0, 3, status="not_run", message="No answer: the kernel died."),
        incidents={A: "the kernel died"},
    ),
    _student(
        "frank",
        _rec("jump", 2),
        _rec("agreement", 3, 3),
        events={A: ["code cell 4 hit the cell time limit (120 s) and was interrupted"]},
    ),
    _student(
        "grace",
        _rec("jump", 0, status="tampered", message="No answer was handed over, although"),
        _rec("agreement", 0, 3, status="tampered", message="No answer was handed over"),
    ),
    _student(
        "heidi",
        _rec("jump", 0, status="no_spec", message="it stopped with NameError: name 'x'. Define"),
        _rec("agreement", 0, 3, status="memory", message="your network ran out of memory"),
    ),
    StudentStatus("ivan", A, ok=False, error="nbgrader autograde failed:\nboom"),
]


def test_reasons_in_a_few_words():
    data = report.class_rows("/nonexistent", A, CLASS)
    why = {r["student"]: {c: v["reason"] for c, v in r["checks"].items()} for r in data["students"]}
    assert why["alice"] == {"jump": "", "agreement": ""}
    assert why["bob"]["jump"].startswith("wrong: at each spike")  # partial credit is explained
    assert why["dave"]["jump"].startswith("not answered")
    assert why["erin"]["jump"] == "not run: the kernel died"
    assert why["grace"]["agreement"].startswith("tampering detected")
    assert why["heidi"]["jump"] == "no answer handed over (NameError: name 'x')"
    assert why["heidi"]["agreement"] == "the simulation ran out of memory"
    notes = {r["student"]: r["notes"] for r in data["students"]}
    assert notes["frank"] == [
        f"{A}: code cell 4 hit the cell time limit (120 s) and was interrupted"
    ]
    assert notes["erin"] == [f"{A}: the kernel died"]
    assert [f["student"] for f in data["grading_failures"]] == ["ivan"]
    assert "ivan" not in {r["student"] for r in data["students"]}


def test_students_who_failed_alike_count_together():
    common = report.class_rows("/x", A, CLASS)["common_failures"]["agreement"]
    top = common[0]
    # bob and carol: different example cases and numbers, the same mistake
    assert top["count"] == 2 and top["students"] == ["bob", "carol"]
    assert top["reason"] == "wrong: the reference fires # spikes, yours #"
    assert sum(c["count"] for c in common) == 6
    assert report.pattern("relax toward vth0 by 2.5 mV") == "relax toward vth0 by # mV"
    # today's wording: the count goes, the failure and the advice stay
    new = (
        "wrong: {} of 14 neurons of the hidden cases fail this check; in one of them, the "
        "reference fires {} spikes, yours 3. Make vth rise at each spike."
    )
    want = "wrong: the reference fires # spikes, yours #. Make vth rise at each spike."
    assert report.pattern(new.format(3, 7)) == report.pattern(new.format(5, 9)) == want
    # with the points in words: the counts and points differ, the reason is the same
    credit = (
        "wrong: {} of 11 firing neurons of the hidden cases {} this check: {}/11 of 2 points = "
        "{}; in one of them, the reference fires 7 spikes, yours 3. Make vth rise at each spike."
    )
    one, two = credit.format(1, "fails", 10, "1.82"), credit.format(2, "fail", 9, "1.64")
    assert report.pattern(one) == report.pattern(two) == want


def test_page_json_and_csv(tmp_path):
    fb = tmp_path / "feedback" / "bob" / A / f"{A}.html"
    fb.parent.mkdir(parents=True)
    fb.write_text("<html></html>")
    page = report.write(tmp_path, A, CLASS, wall_s=5.0)
    assert page == tmp_path / "reports" / A / "summary.html"
    text = page.read_text()
    # static: no script, nothing fetched from elsewhere
    assert "<script" not in text and "http://" not in text and "https://" not in text
    assert f'<a href="../../feedback/bob/{A}/{A}.html">bob</a>' in text
    assert (page.parent / f"../../feedback/bob/{A}/{A}.html").resolve() == fb.resolve()
    assert ">alice<" in text and 'href="../../feedback/alice' not in text  # no page, no link
    for words in ("tampering detected", "not answered", "cell time limit", "Grading failures"):
        assert words in text
    assert "grading failures (the grader&#x27;s side, not a low score)" in text
    data = json.loads((page.parent / "summary.json").read_text())
    assert [c["name"] for c in data["checks"]] == ["jump", "agreement"]
    rows = list(csv.DictReader((page.parent / "summary.csv").open()))
    assert [r["student"] for r in rows] == [
        *"alice bob carol dave erin frank grace heidi".split(),
        "ivan",
    ]
    bob = rows[1]
    assert (
        bob["jump"] == "1.5"
        and bob["agreement"] == "0"
        and "agreement: wrong" in bob["why points were lost"]
    )
    assert rows[-1]["notes"].startswith("grading failed: nbgrader autograde failed")
    assert not list(page.parent.glob("*.tmp"))


def test_a_reason_shared_by_every_check_is_said_once_and_checks_keep_their_order(tmp_path):
    page = report.write(tmp_path, A, CLASS).read_text()
    # dave: not answered, erin: kernel died, grace: tampering -- one line each, not one per check
    # once in dave's row, once per check (2) among the most common reasons
    assert page.count("not answered (the answer cell") == 1 + 2
    assert "<b>every check</b>: tampering detected" in page
    shuffled = [replace(s, checks={A: dict(reversed(list(s.checks[A].items())))})
                for s in CLASS if s.ok]  # fmt: skip
    assert list(report.pass_rates(shuffled, A)) == ["jump", "agreement"]  # the assignment's order
    assert list(report.pass_rates(shuffled)) == ["agreement", "jump"]  # the files' order


def test_feedback_messages_wrap_at_spaces_and_scores_read_as_on_nbgrader_page():
    """Issue 15: "...with an adaptive one it mus" (cut in a sideways-scrolling <pre>) and "at most
    1\\n9%" (broken inside a word); "1.8182 of 2 points" beside nbgrader's "1.82 / 2.0"."""
    from autograde import feedback

    long = "1 of 14 neurons wrong; e.g. " + "with an adaptive one it must fire fewer; " * 5
    cells = {"hidden_reduction": _rec("reduction", 1.8182, message=long)}
    block = feedback.section(A, cells, {"plots": {}})
    assert "reduction: 1.82 of 2 points" in block and "1.8182" not in block
    assert "<pre" not in block  # the message is wrapped text, not a preformatted line
    css = feedback.WRAP_CSS
    for rule in ("white-space: pre-wrap", "word-break: normal", "overflow-wrap: break-word"):
        assert rule in css and css in block
    assert ".jp-OutputArea-output pre" in css  # the notebook part of the page too
    assert feedback.score_text(4.8182) == "4.82" and feedback.score_text(2.0) == "2"


def test_needs_attention_lists_every_kind_of_trouble_once_per_student(tmp_path):
    # the demo's heidi: her kernel died, so no check ran (today's words of SafeExecute)
    died = "the kernel died while running this notebook (out of memory, os._exit, ...)"
    heidi = _student(
        "heidi2",
        _rec("jump", 0, status="not_run", message=f"No answer was handed over: {died}."),
        _rec("agreement", 0, 3, status="not_run", message=f"No answer: {died}."),
        incidents={A: died},
    )
    data = report.class_rows(tmp_path, A, [*CLASS, heidi])
    got = [(n["student"], n["kind"]) for n in data["needs_attention"]]
    assert got == [
        ("ivan", "grading failure"),
        ("erin", "kernel died"),
        ("heidi2", "kernel died"),
        ("frank", "time limit"),
        ("heidi", "memory limit"),
        ("grace", "tampering"),
        ("dave", "not answered"),
    ]
    details = {(n["student"], n["kind"]): n["detail"] for n in data["needs_attention"]}
    assert details[("dave", "not answered")] == "checks jump, agreement"
    assert details[("heidi", "memory limit")] == "check agreement"
    assert details[("heidi2", "kernel died")] == f"{A}: {died}"
    page = report.write(tmp_path, A, [*CLASS, heidi]).read_text()
    assert "<td>needs attention</td><td>1 grading failure, 2 kernel died, 1 time limit" in page
    assert "Needs attention: 7 of 10 students" in page
    console = report.summary([*CLASS, heidi], A)
    assert "needs attention: 1 grading failure, 2 kernel died, 1 time limit" in console


def test_report_of_300_students_puts_attention_first_and_folds_reasons(tmp_path):
    bench = class_report
    statuses, trouble = bench.generated_class(300, seed=3)
    page = report.write(tmp_path, bench.ASSIGNMENT, statuses)
    text = page.read_text()
    # the order an instructor reads: attention, clusters, then the students
    first, clusters, students = (
        text.index('<h2 id="attention">Needs attention'),
        text.index("<h2>Failure clusters per check</h2>"),
        text.index("<h2>Students, lowest score first</h2>"),
    )
    assert first < clusters < students
    # every generated trouble is in the list, under its kind, and nobody else
    kinds = {
        "grading failure": "grading failure",
        "kernel died": "kernel died",
        "cell time limit": "time limit",
        "submission time limit": "time limit",
        "MemoryError": "memory limit",
        "simulation memory": "memory limit",
        "tampering": "tampering",
        "not answered": "not answered",
    }
    want = sorted((name, kinds[k]) for k, names in trouble.items() for name in names)
    data = json.loads((page.parent / "summary.json").read_text())
    assert sorted((n["student"], n["kind"]) for n in data["needs_attention"]) == want
    # students by score, lowest first, each row's reasons folded
    table = text[students:]
    order = re.findall(r"<tr><td>(?:<a [^>]*>)?(s\d{3})", table)
    by_score = sorted(data["students"], key=lambda r: (r["score"], r["student"]))
    assert order == [r["student"] for r in by_score]
    rows = table.split("<tr>")[2:]
    assert len(rows) == len(by_score)
    for row, r in zip(rows, by_score, strict=True):
        lost = any(v["reason"] for v in r["checks"].values()) or r["notes"]
        assert ("<details>" in row) == bool(lost), row
        assert "wrong:" not in row.split("<details>")[0]  # no reason outside the fold
    # readable at 900 px: nothing wider than that, images scale, the table scrolls in its box
    assert all(int(w) <= 900 for w in re.findall(r"width:\s*(\d+)px", text))
    assert "img{max-width:100%" in text and '<div class="scroll"><table><tr><th>student' in text
    # long clusters name 20 students and count the rest
    assert re.search(r"and \d+ more</td>", text)
    # loosely: a few hundred kB for 300 students (284 kB measured), not megabytes
    assert page.stat().st_size < 2_000_000
