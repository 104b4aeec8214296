"""Many answers in one build (harness.simulate_batch) and reading answers without running them
(autograde.batches)."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from autograde import batches
from graders import assignments, harness
from graders.assignments import get
from graders.cache import cache_key, key_lock
from graders.counters import STATS
from graders.spec import validate

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import grade_class  # noqa: E402  (the benchmark's class of answers)

A = "adaptive_threshold"


def _bank(assignment: str, name: str) -> dict:
    spec = json.loads((REPO / "tests/bank" / assignment / f"{name}.json").read_text())["spec"]
    return validate(get(assignment), spec)[0]


def _nb(*cells: str) -> dict:
    return {"cells": [{"cell_type": "code", "source": c} for c in cells]}


FIELDS = {"model": "model", "threshold": "threshold", "reset": "reset", "method": "method"}


# --- guessing the answer from the notebook's text --------------------------------------------


def test_hidden_fields_of_the_source_notebooks():
    for a, expected in (
        ("adaptive_threshold", {"model", "threshold", "reset", "method"}),
        ("ei_balance", {"model", "on_pre", "on_post"}),
    ):
        nb = json.loads((REPO / "source" / a / f"{a}.ipynb").read_text())
        fields = batches.hidden_fields(nb)
        assert expected <= set(fields), fields
        assert all(f == v for f, v in fields.items())  # model=model, ...


def test_guess_follows_literal_assignments_cell_by_cell():
    nb = _nb(
        "model = 'first'\nthreshold = 'v > vth'",
        "%matplotlib inline",  # IPython syntax elsewhere does not matter
        "model = '''\ndv/dt = -v/tau : volt\n'''\nreset = 'v = vr'\nmethod = None",
    )
    spec = batches.guess_spec(nb, FIELDS)
    assert spec == {"model": "\ndv/dt = -v/tau : volt\n", "threshold": "v > vth", "reset": "v = vr"}


@pytest.mark.parametrize(
    "late",
    [
        "model = 'dv/dt = ' + rhs",  # computed
        "model += ' : volt'",  # augmented
        "for model in ['a']: pass",  # a loop variable
        "def f():\n    pass\nmodel = f()",  # a call
        "from mymodels import model",  # imported
        "with open('m') as model: pass",
    ],
)
def test_guess_is_unknown_when_a_field_is_not_a_literal(late):
    nb = _nb("model = 'x'\nthreshold = 'v > vth'\nreset = 'v = vr'", late)
    assert batches.guess_spec(nb, FIELDS) is None


def test_guess_is_unknown_when_a_cell_with_the_field_does_not_parse():
    nb = _nb("threshold = 'v > vth'\nreset = 'v = vr'", "model = 'x\n%time run()")
    assert batches.guess_spec(nb, FIELDS) is None
    assert batches.guess_spec(_nb("x = 1"), FIELDS) is None  # nothing set at all


@pytest.mark.parametrize("assignment", assignments.names())
def test_guess_equals_what_the_kernel_hands_over(assignment):
    """For every answer of the benchmark's class: the guess is the spec hidden_check would see."""
    released = json.loads((REPO / "release" / assignment / f"{assignment}.ipynb").read_text())
    source = json.loads((REPO / "source" / assignment / f"{assignment}.ipynb").read_text())
    fields = batches.hidden_fields(source)
    checked = 0
    for _student, kind, body in grade_class.class_of(assignment, 20):
        if body is None or kind == "crashing":
            continue
        nb = grade_class.submission(released, body)
        cell = next(c for c in nb["cells"] if body in "".join(c["source"]))
        namespace: dict = {}
        exec("".join(cell["source"]), namespace)  # the answer cell as the kernel runs it
        handed = {f: namespace.get(v) for f, v in fields.items()}
        handed = {f: v for f, v in handed.items() if v is not None}
        assert batches.guess_spec(nb, fields) == handed, kind
        checked += 1
    assert checked >= 15


# --- one build for many answers --------------------------------------------------------------


SPECS = ["right_canonical", "wrong_no_adaptation", "right_theta"]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    cache = tmp_path_factory.mktemp("batch")
    a = get(A)
    specs = [_bank(A, n) for n in SPECS]
    status = harness.simulate_batch(
        A, specs + [specs[0]], a.simulated_cases(), "runtime", cache_dir=cache
    )
    return cache, specs, status


def test_batch_builds_each_distinct_answer_once(batch):
    _cache, _specs, status = batch
    assert status == ["built", "built", "built", "duplicate"]


def test_batch_observables_equal_a_build_of_their_own(batch):
    cache, specs, _status = batch
    cases = get(A).simulated_cases()
    for spec in specs:
        hit = harness.simulate(A, spec, cases, "runtime", cache_dir=cache)
        assert hit.cached
        alone = harness.simulate(A, spec, cases, "runtime", use_cache=False)
        assert hit.observables.keys() == alone.observables.keys()
        for k, v in alone.observables.items():
            np.testing.assert_array_equal(hit.observables[k], v, err_msg=k)


def test_batch_leaves_out_an_answer_brian_rejects(tmp_path):
    good = _bank(A, "right_canonical")
    bad = dict(good, model=good["model"].replace("(vth0 - vth)/tau_th", "(vth0 - vth)"))
    status = harness.simulate_batch(
        A, [bad, good], get(A).simulated_cases(), "runtime", cache_dir=tmp_path
    )
    assert status == ["left", "built"]


def test_a_failed_batch_costs_only_time(tmp_path):
    """The batch dies (here: too little memory to even start); every answer then builds alone."""
    cases = get(A).simulated_cases()
    specs = [_bank(A, n) for n in SPECS[:2]]
    status = harness.simulate_batch(A, specs, cases, "runtime", cache_dir=tmp_path, memory_mb=40)
    assert status == ["failed", "failed"]
    sim = harness.simulate(A, specs[1], cases, "runtime", cache_dir=tmp_path)
    assert not sim.cached and len(sim.observables["c0_s_spk_t"]) > 0


def test_a_grader_waits_for_the_batch_instead_of_building(tmp_path):
    cases = get(A).simulated_cases()
    spec = _bank(A, "right_exact")
    found = {}

    def grade_meanwhile():
        found["sim"] = harness.simulate(A, spec, cases, "runtime", cache_dir=tmp_path)

    waiting = threading.Thread(target=grade_meanwhile)
    builds = STATS["builds"]
    status = harness.simulate_batch(
        A, [spec], cases, "runtime", cache_dir=tmp_path, on_locked=waiting.start
    )
    waiting.join(timeout=120)
    assert status == ["built"]
    assert found["sim"].cached, "the grader built the answer a second time"
    assert STATS["builds"] == builds


def test_a_busy_answer_is_left_to_whoever_builds_it(tmp_path):
    spec = _bank(A, "right_canonical")
    cases = get(A).simulated_cases()
    key = cache_key(A, spec, cases, "runtime")
    with key_lock(tmp_path, key):
        status = harness.simulate_batch(A, [spec], cases, "runtime", cache_dir=tmp_path)
    assert status == ["busy"]


def test_class_specs_reads_a_course(tmp_path):
    from autograde import demo

    course = demo.make_course(
        tmp_path / "course",
        REPO,
        A,
        {"ann": ("right", ""), "bo": ("right", ""), "cy": ("wrong", "")},
    )
    specs, guessed = batches.class_specs(course, A, ["ann", "bo", "cy"])
    assert guessed == 3
    assert len(specs) == 2  # two identical right answers share one entry


@pytest.mark.parametrize(
    ("n", "parallel", "sizes"),
    [
        (0, 2, []),
        (1, 2, [1]),
        (3, 2, [3]),  # two batches of one and two would share nothing
        (4, 2, [2, 2]),
        (13, 2, [7, 6]),
        (40, 2, [14, 14, 12]),  # capped at BATCH_SIZE per batch
        (5, 1, [5]),
    ],
)
def test_chunks_one_batch_per_core_of_at_least_two(n, parallel, sizes):
    assert batches.BATCH_SIZE == 16
    got = batches.chunks(list(range(n)), parallel)
    assert [len(c) for c in got] == sizes
    assert [x for c in got for x in c] == list(range(n))


@pytest.mark.parametrize(
    ("n", "memory_mb", "sizes"),
    [
        (0, None, []),
        (1, None, [1]),
        (30, None, [30]),  # 16 cores or not: one nvcc build, not 15
        (32, 80_000, [32]),
        (33, 80_000, [17, 16]),  # over the cap: as few models as it allows, evenly filled
        (80, None, [27, 27, 26]),
        (30, 4096, [15, 15]),  # a 4 GB GPU: a quarter of it at 64 MB an answer holds 16
        (5, 100, [1, 1, 1, 1, 1]),  # no room for two: each alone, never an empty batch
    ],
)
def test_chunks_on_a_gpu_few_large_batches(n, memory_mb, sizes):
    assert batches.GPU_BATCH_SIZE == 32
    got = batches.chunks(list(range(n)), 16, gpu=True, gpu_memory_mb=memory_mb)
    assert [len(c) for c in got] == sizes
    assert [x for c in got for x in c] == list(range(n))


def test_chunks_on_a_gpu_build_far_fewer_models_than_on_the_cpu():
    # the demo class's scale: 14 distinct answers per assignment, 16 cores
    cpu = batches.chunks(list(range(14)), 16)
    gpu = batches.chunks(list(range(14)), 16, gpu=True)
    assert len(cpu) == 7 and len(gpu) == 1


@pytest.mark.genn
@pytest.mark.slow
def test_batch_on_genn_cpu_equals_builds_of_their_own(tmp_path):
    """One GeNN model for two answers gives each exactly what its own model gives."""
    cases = get(A).simulated_cases()
    specs = [_bank(A, "right_canonical"), _bank(A, "wrong_no_decay")]
    status = harness.simulate_batch(A, specs, cases, "genn-cpu", cache_dir=tmp_path)
    assert status == ["built", "built"]
    for spec in specs:
        hit = harness.simulate(A, spec, cases, "genn-cpu", cache_dir=tmp_path)
        alone = harness.simulate(A, spec, cases, "genn-cpu", use_cache=False)
        assert hit.cached
        for k, v in alone.observables.items():
            np.testing.assert_array_equal(hit.observables[k], v, err_msg=k)


@pytest.mark.slow
def test_ei_balance_batch_equals_builds_of_their_own(tmp_path):
    ei = "ei_balance"
    cases = get(ei).simulated_cases()
    specs = [_bank(ei, "right_canonical"), _bank(ei, "wrong_post_half_only")]
    assert harness.simulate_batch(ei, specs, cases, "runtime", cache_dir=tmp_path) == ["built"] * 2
    for spec in specs:
        hit = harness.simulate(ei, spec, cases, "runtime", cache_dir=tmp_path)
        alone = harness.simulate(ei, spec, cases, "runtime", use_cache=False)
        for k, v in alone.observables.items():
            np.testing.assert_array_equal(hit.observables[k], v, err_msg=k)
