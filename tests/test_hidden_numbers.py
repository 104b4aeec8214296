"""Numbers measured on the hidden cases only after the due date (issue 26 item 4).

``c.Feedback.hidden_numbers`` (graders.settings.Feedback): "after_due_date" (default), "always"
or "never". Before the due date the cell output, the feedback page and ``results.json`` say in
words what failed on the hidden cases (the points, the case plotted on the page with the task's
own numbers); after it, or under "always", the hidden cases' numbers (reference rates, limits
computed on them, counts of their neurons and spikes) appear; ``results.json`` marks the tests
whose message has them ``"after_due_date"``, Gradescope's visibility.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from nbformat.notebooknode import from_dict

import graders
from autograde import exports, feedback
from autograde.jobs import StudentStatus
from autograde.preprocessors import TrustedVerdicts
from graders import settings
from graders.assignments.base import Outcome
from graders.notebook import spec_line

BANK = Path(__file__).parent / "bank"
DUE = dt.datetime(2026, 12, 1, 12, 0)


def _digits(text: str, points: str) -> list[str]:
    """The numbers in ``text`` other than the points it states (``points``: "1.2 of 2")."""
    return re.findall(r"\d+(?:\.\d+)?", text.replace(points, ""))


def test_the_policy_and_the_due_date_decide():
    before, after = DUE - dt.timedelta(minutes=1), DUE + dt.timedelta(minutes=1)
    assert not settings.shows_hidden_numbers("after_due_date", DUE, before)
    assert settings.shows_hidden_numbers("after_due_date", DUE, after)
    assert not settings.shows_hidden_numbers("after_due_date", None, after)  # no due date
    assert settings.shows_hidden_numbers("always", None) and settings.shows_hidden_numbers(
        "always", DUE, before
    )
    assert not settings.shows_hidden_numbers("never", DUE, after)
    aware = DUE.replace(tzinfo=dt.UTC)
    assert settings.shows_hidden_numbers("after_due_date", aware, after)
    with pytest.raises(ValueError, match="after_due_date, always, never"):
        settings.shows_hidden_numbers("later", DUE)
    trait = settings.Feedback.class_traits()["hidden_numbers"]
    assert settings.Feedback().hidden_numbers == "after_due_date" and "due date" in trait.help


def _outcome(**kw) -> Outcome:
    base = dict(
        fraction=10 / 11,
        said="with a fixed threshold the neuron fires 35 spikes and with an adaptive one it "
        "must fire fewer; yours fired 40",
        failed=1,
        total=11,
        what="firing neurons",
        advice="Your vth equation relaxes with tau, not with tau_th.",
    )
    return Outcome(**{**base, **kw})


def test_the_words_give_no_hidden_number_and_keep_the_points_and_advice():
    o = _outcome()
    full, words = o.hidden_message(2), o.hidden_message(2, numbers=False)
    assert "1 of 11" in full and "35 spikes" in full
    assert _digits(words, "1.82 of 2") == [], words
    assert "Some firing neurons of the hidden cases fail this check (1.82 of 2 points)" in words
    assert "after the due date" in words and words.endswith("not with tau_th.")
    # a description without numbers is kept
    o = _outcome(said="at each spike vth should rise by vth_inc; yours did not change at all")
    assert "in one of them, at each spike vth should rise by vth_inc" in o.hidden_message(
        2, numbers=False
    )
    assert (
        _outcome(fraction=0.0, failed=11)
        .hidden_message(2, False)
        .startswith("All firing neurons of the hidden cases fail this check (0 of 2 points)")
    )
    assert _outcome(fraction=1.0, failed=0, said="all 11 fine").hidden_message(2, False) == (
        "all 11 fine"
    )  # a pass gives no hidden number to act on and stays as it is


def _rec(message, words=None):
    rec = {"check": "reduction", "points": 1.82, "max_points": 2.0, "message": message}
    return {**rec, "words": words} if words else rec


def test_page_and_results_json_say_it_in_words_before_and_with_numbers_after():
    o = _outcome()
    rec = _rec(o.hidden_message(2), o.hidden_message(2, numbers=False))
    plain = {"check": "rest", "points": 1.0, "max_points": 1.0, "message": "vth stays at vth0"}
    cells = {"hidden_reduction": rec, "hidden_rest": plain}
    status = StudentStatus("ann", "adaptive_threshold", ok=True, checks={"nb": cells}, score=2.82)
    before = feedback.section("adaptive_threshold", cells, {"plots": {}}, numbers=False)
    after = feedback.section("adaptive_threshold", cells, {"plots": {}}, numbers=True)
    assert "35 spikes" not in before and "1 of 11" not in before and "35 spikes" in after
    for policy in ("after_due_date", "always", "never"):
        for numbers in (False, True):
            res = exports.gradescope_results(status, 2, None, numbers, policy)
            red, rest = res["tests"]
            assert ("35 spikes" in red["output"]) == numbers
            assert red["visibility"] == (
                "after_due_date" if policy == "after_due_date" else "visible"
            )
            assert rest["visibility"] == "visible" and rest["output"] == "vth stays at vth0"


def _grade_cell(monkeypatch, o, numbers, policy="after_due_date", due=dt.datetime(2030, 1, 1)):
    """TrustedVerdicts grading one hidden cell whose check found ``o``, under ``policy`` and the
    due date ``due`` (``numbers``: whether the numbers may be shown now): the cell's outputs as
    JSON and the status record it keeps."""
    from graders.results import CheckResult, Verdict

    words = o.hidden_message(2, numbers=False)
    result = CheckResult("reduction", 2, o.fraction, o.hidden_message(2), {"words": words})
    verdict = Verdict("adaptive_threshold", "runtime", [result], [])
    monkeypatch.setattr(graders, "check", lambda *a, **k: verdict)
    tv = TrustedVerdicts()
    tv._expected = {"hidden_reduction": ("adaptive_threshold", "reduction")}
    tv._verdicts, tv._cells, tv._incident, tv._not_answered, tv._backend = {}, {}, None, False, None
    tv._numbers, tv._policy, tv._duedate = numbers, policy, due
    cell = from_dict(
        {
            "cell_type": "code",
            "execution_count": 5,
            "source": "",
            "metadata": {"nbgrader": {"grade": True, "grade_id": "hidden_reduction", "points": 2}},
            "outputs": [
                {
                    "output_type": "stream",
                    "name": "stdout",
                    "text": spec_line("adaptive_threshold", "reduction", {"model": "v"}) + "\n",
                }
            ],
        }
    )
    cell, _ = tv.preprocess_cell(cell, {}, 0)
    return json.dumps(cell.outputs), tv._cells["hidden_reduction"]


@pytest.mark.parametrize("numbers", [False, True])
def test_the_graded_cells_output_follows_the_policy(monkeypatch, numbers):
    o = _outcome()
    full, words = o.hidden_message(2), o.hidden_message(2, numbers=False)
    shown, rec = _grade_cell(monkeypatch, o, numbers)
    assert ("35 spikes" in shown) == numbers and ("after the due date" in shown) != numbers
    assert rec["message"] == full and rec["words"] == words  # the instructor keeps both


@pytest.mark.parametrize(
    "policy, due, said",
    [
        ("after_due_date", dt.datetime(2030, 1, 1), "are shown after the due date"),
        ("after_due_date", None, "are not shown (the assignment has no due date)"),
        ("never", dt.datetime(2030, 1, 1), "are not shown;"),
    ],
)
def test_the_words_promise_numbers_only_where_they_will_be_shown(monkeypatch, policy, due, said):
    """No due date, or a course that never shows them: the student is not told to wait."""
    from graders.assignments.outcome import NUMBERS_LATER, when_numbers_shown

    o = _outcome()
    words = o.hidden_message(2, numbers=False)
    assert NUMBERS_LATER in words
    assert said in when_numbers_shown(words, policy, due)
    shown, rec = _grade_cell(monkeypatch, o, False, policy, due)
    assert said in shown
    assert said in rec["words"]  # the page, results.json and exports


def test_the_course_setting_and_the_gradebooks_due_date_are_read(tmp_path):
    from nbgrader.api import Gradebook

    from autograde import course

    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\nc.Feedback.hidden_numbers = 'never'\n"
    )
    assert course.hidden_numbers_policy(tmp_path) == "never"
    assert not course.shows_hidden_numbers(tmp_path, "a1")
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()  # noqa: F821\n")
    with Gradebook(course.db_url(tmp_path)) as gb:
        gb.add_assignment("a1", duedate="2026-12-01 12:00:00")
    assert course.due_date(tmp_path, "a1") == DUE
    assert not course.shows_hidden_numbers(tmp_path, "a1", now=DUE - dt.timedelta(seconds=1))
    assert course.shows_hidden_numbers(tmp_path, "a1", now=DUE)
    assert course.due_date(tmp_path, "other") is None


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, entry",
    [("adaptive_threshold", "wrong_decay_tau"), ("ei_balance", "wrong_pre_half_only")],
)
def test_graded_messages_in_words_carry_no_hidden_number(name, entry):
    spec = json.loads((BANK / name / f"{entry}.json").read_text())["spec"]
    verdict = graders.check(name, spec, "runtime")
    with_numbers = 0
    for c in verdict.checks:
        words = c.details.get("words")
        if words is None:
            continue
        with_numbers += 1
        got = f"{round(c.points, 2):g} of {c.max_points:g}"
        assert _digits(words, got) == [], f"{c.name}: {words}"
        assert re.search(r"\d", c.message.replace(got, "")), "words without a reason"
    assert with_numbers, "no message of a wrong answer had hidden numbers to hide"


#: A count of the hidden cases' items: "1 of 11 firing neurons of the hidden cases".
COUNT = re.compile(r"\b\d+ of \d+ [a-z ]*hidden cases")


def _student_sees(course: Path, a: str, student: str) -> dict[str, str]:
    cells = json.loads((course / "autograded" / student / a / f"{a}.ipynb").read_text())["cells"]
    outputs = [
        json.dumps(c.get("outputs", []))
        for c in cells
        if c["metadata"].get("nbgrader", {}).get("grade_id", "").startswith("hidden_")
    ]
    results = course / "exports" / "gradescope" / a / student / "results.json"
    return {
        "page": (course / "feedback" / student / a / f"{a}.html").read_text(),
        "results.json": results.read_text(),
        "cell outputs": "\n".join(outputs),
    }


@pytest.mark.slow
@pytest.mark.nbgrader
def test_a_graded_class_gets_hidden_numbers_only_after_the_due_date(tmp_path):
    """bob (the tutorial's decay bug) graded before the due date, then again after it."""
    import subprocess

    from banks import grade_cmd, grade_env
    from nbgrader.api import Gradebook

    from autograde import course as course_mod
    from autograde import demo

    a, repo = "adaptive_threshold", Path(__file__).resolve().parent.parent
    course = demo.make_course(tmp_path / "course", repo, a, {"bob": ("partly", "")})
    env = grade_env(tmp_path / "cache")

    def grade(due: dt.datetime, *extra: str) -> dict[str, str]:
        with Gradebook(course_mod.db_url(course)) as gb:
            gb.update_or_create_assignment(a, duedate=due)
        done = subprocess.run(
            grade_cmd(a, *extra), cwd=course, env=env, capture_output=True, text=True, timeout=1200
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return _student_sees(course, a, "bob")

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    before = grade(now + dt.timedelta(days=7))
    for where, text in before.items():
        assert not COUNT.search(text), f"{where} before the due date: {COUNT.search(text)[0]}"
        assert "shown after the due date" in text, where
    assert '"visibility": "after_due_date"' in before["results.json"]
    after = grade(now - dt.timedelta(days=1), "--force")
    for where, text in after.items():
        assert COUNT.search(text), f"{where} after the due date has no hidden count"
