"""Each check's message and plot speak about the same, visible case (issue 15).

A check says where its first failure is (:attr:`graders.assignments.base.Outcome.focus`); the
feedback page runs it on the feedback cases (the task's own parameters), draws its plot there
with the check's limit, and shows the message measured on that case. Grading messages count the
hidden inputs that fail and never cite a hidden case the student cannot see.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

import graders
from autograde import feedback
from graders.assignments import get
from graders.assignments.base import Outcome
from graders.feedback import feedback_observables

BANK = Path(__file__).parent / "bank"


def spec_of(name: str, entry: str) -> dict:
    return json.loads((BANK / name / f"{entry}.json").read_text())["spec"]


def _pieces(**kw) -> Outcome:
    base = dict(
        fraction=0.5,
        said="yours fired 7",
        failed=3,
        total=12,
        what="neurons",
        focus={"case": 0, "neuron": 1},
        place="the task's parameters, drive I = 25 mV",
        advice="Make vth rise at each spike.",
        unseen="other drives, so look for a number written where the task names a parameter",
    )
    return Outcome(**{**base, **kw})


def test_hidden_message_counts_failures_and_ends_with_what_to_change():
    msg = _pieces().hidden_message()
    assert msg.startswith("3 of 12 neurons of the hidden cases fail this check")
    assert msg.endswith("Make vth rise at each spike.")
    assert "I = 25 mV" not in msg, "the place is for the visible cases only"
    assert "hidden case " not in msg


def test_feedback_message_places_the_failure_on_the_plotted_case():
    msg = _pieces().feedback_message()
    assert msg.startswith("In the case plotted below (the task's parameters, drive I = 25 mV): ")
    assert "(3 of 12 neurons with the task's parameters fail)" in msg
    assert msg.endswith("Make vth rise at each spike.")


def test_passing_on_the_task_parameters_but_not_hidden_says_so_in_words():
    ok = _pieces(fraction=1.0, failed=0, said="fewer spikes")
    msg = ok.feedback_message(hidden_passed=False)
    assert "passes this check in the case plotted below" in msg
    assert "fails it on some hidden cases" in msg
    assert "look for a number written where the task names a parameter" in msg
    assert not re.search(r"\d", msg.replace("25 mV", "")), "no number beyond the plotted case's"
    assert ok.feedback_message(hidden_passed=True).endswith("fewer spikes.")


def test_a_check_returning_the_short_form_still_grades():
    a = get("adaptive_threshold")
    saved = a.checks["rest"]
    try:
        a.checks["rest"] = lambda spec, obs, cases: (0.5, "half")
        (res,) = [c for c in a.grade({}, _fake_obs(a), a.cases()) if c.name == "rest"]
    finally:
        a.checks["rest"] = saved
    assert res.fraction == 0.5 and "focus" not in res.details
    assert res.message == "half (0.5 of 1 point)"  # what it earns, in the words


def test_checks_and_plots_of_the_older_form_still_work():
    """An assignment written before focus (as ``autograde new-assignment`` generates them):
    checks return ``(fraction, message)``, plots take no ``focus``."""
    a = get("adaptive_threshold")
    saved = a.checks["rest"], a.plot
    calls = []
    try:
        a.checks["rest"] = lambda spec, obs, cases: (0.5, "half")
        a.plot = lambda check, ax, obs, cases: calls.append(check)
        said = a.feedback("rest", {}, {}, [], hidden_passed=False)
        a.draw("rest", None, {}, [], said.details["focus"])
    finally:
        a.checks["rest"], a.plot = saved
    assert said.message == "In the case plotted below (the task's parameters): half"
    assert said.details == {"focus": None, "passed": False} and calls == ["rest"]


def _fake_obs(a):
    """Observables in which nothing spikes and vth sits at vth0 (no simulation)."""
    t = np.arange(100) * 1e-4
    obs = {"t": t}
    for k, case in enumerate(a.cases()):
        n = len(case["drives_mV"])
        for role in ("s", "r", "c"):
            obs[f"c{k}_{role}_spk_i"] = np.zeros(0)
            obs[f"c{k}_{role}_spk_t"] = np.zeros(0)
        obs[f"c{k}_s_vth"] = np.full((n, t.size), case["params"]["vth0"][0])
    return obs


def _legend_texts(assignment, check, obs, cases, focus):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    try:
        get(assignment).draw(check, ax, obs, cases, focus)
        texts = [t.get_text() for t in ax.get_legend().get_texts()]
        return texts, ax.get_title(), ax.get_xlabel()
    finally:
        plt.close(fig)


def _page(assignment, spec, tmp_path):
    verdict = graders.check(assignment, spec, "runtime", cache_dir=tmp_path)
    cells = {
        f"hidden_{c.name}": {
            "check": c.name,
            "points": c.points,
            "max_points": c.max_points,
            "message": c.message,
            "spec": spec,
        }
        for c in verdict.checks
    }
    plots = feedback.make_plots(assignment, cells, "runtime", cache_dir=tmp_path)
    # plain data: the worker carries it back as JSON (no numpy scalars, no objects)
    assert json.loads(json.dumps(plots)) == plots
    html = feedback.section(assignment, cells, plots)
    return verdict, plots, html


def _no_hidden_case_cited(verdict, plots, html):
    for c in verdict.checks:
        assert "hidden case " not in c.message and "protocol" not in c.message, c.message
    for said in plots["feedback"].values():
        assert "hidden case " not in said["message"]
    assert "hidden case " not in html


@pytest.mark.slow
def test_tutorial_decay_bug_is_plotted_where_vth_relaxes_with_tau(tmp_path):
    """The tutorial's bug (vth relaxes with tau, not tau_th): the decay plot is drawn on the pulse
    case with the predicted curve +/- DECAY_RTOL, and its words speak about that case."""
    spec = spec_of("adaptive_threshold", "wrong_decay_tau")
    verdict, plots, html = _page("adaptive_threshold", spec, tmp_path)
    decay = plots["feedback"]["decay"]
    assert not decay["passed"] and decay["focus"]["case"] == 1 and decay["focus"]["neuron"] == 0
    assert decay["message"].startswith(
        "In the case plotted below (the task's parameters, drive I = 40 mV switched on at 100 ms "
        "and off at 300 ms): after the input stops, vth should relax toward vth0 with time "
        "constant tau_th; yours relaxes much faster than that"
    )
    assert "tau_th = 200 ms" in decay["message"]
    assert decay["message"].endswith("relaxes with tau, not with tau_th: divide by tau_th instead.")
    assert verdict.check("decay").message.startswith("3 of 3 neurons of the hidden cases fail")
    assert "yours relaxes much faster than that (its time constant is" in html
    assert "On the case plotted below" in html and "On the hidden tests" in html
    png = base64.b64decode(plots["plots"]["decay"])
    assert png.startswith(b"\x89PNG")
    obs = feedback_observables("adaptive_threshold", spec, "runtime", cache_dir=tmp_path)
    cases = get("adaptive_threshold").feedback_cases()
    texts, title, _ = _legend_texts("adaptive_threshold", "decay", obs, cases, decay["focus"])
    assert "relaxing with tau_th (+/- 1% of the height)" in texts
    assert "tau_th" in title and "yours" in texts and "reference (dashed)" in texts
    _no_hidden_case_cited(verdict, plots, html)


@pytest.mark.slow
def test_sign_error_in_the_jump_is_plotted_at_the_first_wrong_spike(tmp_path):
    spec = spec_of("adaptive_threshold", "wrong_sign")
    verdict, plots, html = _page("adaptive_threshold", spec, tmp_path)
    jump = plots["feedback"]["jump"]
    focus = jump["focus"]
    assert not jump["passed"] and focus["case"] == 0 and focus["spike"] == 0
    drive = get("adaptive_threshold").feedback_cases()[0]["drives_mV"][focus["neuron"]]
    assert f"drive I = {drive:g} mV" in jump["message"]
    assert (
        "vth should rise by vth_inc = 5 mV (within 1%); yours rose by -5.00 mV" in jump["message"]
    )
    assert "changed in the opposite direction" in verdict.check("jump").message
    obs = feedback_observables("adaptive_threshold", spec, "runtime", cache_dir=tmp_path)
    cases = get("adaptive_threshold").feedback_cases()
    texts, title, _ = _legend_texts("adaptive_threshold", "jump", obs, cases, focus)
    assert "vth + vth_inc (+/- 1%)" in texts and "this spike" in texts
    # the reduction plot marks the fixed threshold's count as the limit
    red = plots["feedback"]["reduction"]
    texts, title, _ = _legend_texts("adaptive_threshold", "reduction", obs, cases, red["focus"])
    assert any(t.startswith("not allowed: as many spikes as the fixed threshold") for t in texts)
    assert "below the fixed-threshold" in title
    _no_hidden_case_cited(verdict, plots, html)


@pytest.mark.slow
def test_answer_without_adaptation_fails_on_the_plotted_case(tmp_path):
    """No vth_inc in reset: the reduction plot's drive fires as often as the fixed threshold."""
    spec = spec_of("adaptive_threshold", "wrong_no_adaptation")
    verdict, plots, html = _page("adaptive_threshold", spec, tmp_path)
    red = plots["feedback"]["reduction"]
    assert not red["passed"] and red["focus"] == {"case": 0, "neuron": 1}
    assert "drive I = 25 mV" in red["message"] and "must fire fewer" in red["message"]
    # the advice is the diagnosis of the strings: no line of reset raises vth
    assert "Your reset leaves vth unchanged" in red["message"]
    _no_hidden_case_cited(verdict, plots, html)


@pytest.mark.slow
def test_right_answer_gets_every_plot_and_passing_words(tmp_path):
    spec = spec_of("adaptive_threshold", "right_canonical")
    verdict, plots, html = _page("adaptive_threshold", spec, tmp_path)
    a = get("adaptive_threshold")
    assert set(plots["plots"]) == set(a.points) and all(plots["plots"].values())
    for c, said in plots["feedback"].items():
        assert said["passed"], (c, said)
        assert said["message"].startswith("In the case plotted below (the task's parameters")
    assert html.count("<img") == len(a.points)


@pytest.mark.slow
def test_rule_plot_shows_each_pairing_at_its_interval(tmp_path):
    """ei_balance: a rule that only updates w at presynaptic spikes fails the pairings where the
    presynaptic spike comes first; the plot's x axis is t_post - t_pre with its sign."""
    spec = spec_of("ei_balance", "wrong_pre_half_only")
    verdict, plots, html = _page("ei_balance", spec, tmp_path)
    rule = plots["feedback"]["rule"]
    assert not rule["passed"] and rule["focus"]["probe"] == 0 and rule["focus"]["dt_ms"] > 0
    assert f"t_post - t_pre = {rule['focus']['dt_ms']:+g} ms" in rule["message"]
    assert "0.07" not in rule["message"] and "35 ms" not in rule["message"]  # hidden protocol
    obs = feedback_observables("ei_balance", spec, "runtime", cache_dir=tmp_path)
    cases = get("ei_balance").feedback_cases()
    texts, title, xlabel = _legend_texts("ei_balance", "rule", obs, cases, rule["focus"])
    assert xlabel.startswith("t_post - t_pre (ms)") and "pairing" not in xlabel
    assert "the pairing in the message" in texts
    texts, _, _ = _legend_texts("ei_balance", "balance", obs, cases, None)
    assert "allowed late mean of the net input" in texts
    assert not [t for t in texts if re.search(r", [sr]$", t)], texts  # no "Ie, s"
    _no_hidden_case_cited(verdict, plots, html)


@pytest.mark.parametrize(
    "pieces, points, words",
    [
        # the example: 11 neurons count (3 silent ones that stay silent earn nothing)
        (
            dict(fraction=10 / 11, failed=1, total=11, what="firing neurons"),
            2,
            "1 of 11 firing neurons of the hidden cases fails this check: "
            "10/11 of 2 points = 1.82; in one of them, yours fired 7",
        ),
        (
            dict(fraction=0.5, failed=2, total=4, what="cases"),
            3,
            "2 of 4 hidden cases fail this check: 2/4 of 3 points = 1.50; in one of them, ",
        ),
        (dict(fraction=0.0, failed=4, total=4, what="cases"), 1, "fail this check: 0 of 1 point;"),
        # all or nothing: the words must not suggest a share
        (
            dict(fraction=0.0, failed=2, total=5, what="cases"),
            1,
            "2 of 5 hidden cases fail this check: it earns its points only when all pass: "
            "0 of 1 point;",
        ),
        (dict(fraction=0.0, failed=0, total=0), 2, "yours fired 7 (0 of 2 points). Make vth"),
    ],
)
def test_partial_credit_in_words_adds_up(pieces, points, words):
    from banks import assert_credit_adds_up

    found = _pieces(**pieces)
    msg = found.hidden_message(points)
    assert words in msg
    earned = round(points * found.fraction, 6)
    assert_credit_adds_up({"message": msg, "points": earned, "max_points": points})
    with pytest.raises(AssertionError):  # the same words for other points do not add up
        assert_credit_adds_up({"message": msg, "points": earned + 0.5, "max_points": points})
