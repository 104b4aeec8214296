"""The harness: fresh processes, identical results across backends, limits and the cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

from graders import harness
from graders.assignments.adaptive_threshold import REFERENCE
from graders.cache import cache_key
from graders.counters import STATS

SPEC = dict(REFERENCE, method="euler")

# A deterministic input: two constant drives, one pulsed (the seed's adaptive-threshold neuron).
P = {
    "vr": (-0.07, "volt"),
    "vth0": (-0.05, "volt"),
    "vth_inc": (0.005, "volt"),
    "tau": (0.02, "second"),
    "tau_th": (0.2, "second"),
}
CASES = [
    {"params": P, "drives_mV": [25, 40]},
    {"params": P, "drives_mV": [35], "pulse_ms": [10, 300]},
]


def spikes(sim):
    obs = sim.observables
    return {k: obs[k] for k in sorted(obs) if "_spk_" in k}


@pytest.fixture(scope="module")
def runtime_result(tmp_path_factory):
    cache = tmp_path_factory.mktemp("rt")
    return harness.simulate("adaptive_threshold", SPEC, CASES, "runtime", cache_dir=cache)


def test_runtime_produces_spikes(runtime_result):
    obs = runtime_result.observables
    assert len(obs["c0_s_spk_t"]) > 5
    assert obs["c0_s_vth"].shape == (2, len(obs["t"]))


def _same_spikes(a, b):
    sa, sb = spikes(a), spikes(b)
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k], err_msg=k)


@pytest.mark.standalone
@pytest.mark.slow
def test_cpp_standalone_matches_runtime(runtime_result, tmp_path):
    sim = harness.simulate("adaptive_threshold", SPEC, CASES, "cpp_standalone", cache_dir=tmp_path)
    _same_spikes(runtime_result, sim)
    np.testing.assert_allclose(
        sim.observables["c1_s_vth"], runtime_result.observables["c1_s_vth"], rtol=0, atol=1e-12
    )


@pytest.mark.genn
@pytest.mark.slow
def test_genn_cpu_matches_runtime(runtime_result, tmp_path):
    sim = harness.simulate("adaptive_threshold", SPEC, CASES, "genn-cpu", cache_dir=tmp_path)
    _same_spikes(runtime_result, sim)
    np.testing.assert_allclose(
        sim.observables["c1_s_vth"], runtime_result.observables["c1_s_vth"], rtol=0, atol=1e-9
    )


@pytest.mark.cuda
@pytest.mark.slow
def test_genn_cuda_matches_runtime(runtime_result, tmp_path):
    sim = harness.simulate("adaptive_threshold", SPEC, CASES, "genn", cache_dir=tmp_path)
    _same_spikes(runtime_result, sim)


def test_cache_hit_skips_the_build(fresh_cache):
    before = dict(STATS)
    first = harness.simulate("adaptive_threshold", SPEC, CASES, "runtime")
    second = harness.simulate("adaptive_threshold", SPEC, CASES, "runtime")
    assert not first.cached and second.cached
    assert STATS["builds"] == before["builds"] + 1
    assert STATS["cache_hits"] == before["cache_hits"] + 1
    for k in first.observables:
        np.testing.assert_array_equal(first.observables[k], second.observables[k])


def test_cache_key_depends_on_spec_cases_and_backend():
    k = cache_key("adaptive_threshold", SPEC, CASES, "runtime")
    assert k == cache_key("adaptive_threshold", dict(SPEC), CASES, "runtime")
    assert k != cache_key("adaptive_threshold", dict(SPEC, method="exact"), CASES, "runtime")
    assert k != cache_key("adaptive_threshold", SPEC, CASES[:1], "runtime")
    assert k != cache_key("adaptive_threshold", SPEC, CASES, "cpp_standalone")


def test_runaway_is_stopped_and_the_next_job_runs(tmp_path):
    long_cases = [{"params": P, "drives_mV": [25] * 200}] * 40
    with pytest.raises(harness.SimulationFailed) as info:
        harness.simulate(
            "adaptive_threshold", SPEC, long_cases, "runtime", timeout=3, use_cache=False
        )
    assert info.value.kind == "timeout" and "3 s" in info.value.message
    sim = harness.simulate("adaptive_threshold", SPEC, CASES[:1], "runtime", cache_dir=tmp_path)
    assert len(sim.observables["c0_s_spk_t"]) > 0


def test_memory_limit_is_enforced(tmp_path):
    huge = [{"params": P, "drives_mV": [25] * 2_000_000}]
    with pytest.raises(harness.SimulationFailed) as info:
        harness.simulate(
            "adaptive_threshold",
            SPEC,
            huge,
            "runtime",
            memory_mb=1500,
            timeout=120,
            use_cache=False,
        )
    assert info.value.kind == "memory", info.value.message


def test_build_folder_kept_on_request(tmp_path):
    keep = tmp_path / "kept"
    harness.simulate(
        "adaptive_threshold", SPEC, CASES[:1], "runtime", use_cache=False, keep_build=keep
    )
    job = json.loads((keep / "job.json").read_text())
    assert job["backend"] == "runtime" and (keep / "obs.npz").is_file()


def test_observables_are_not_pickled(runtime_result, fresh_cache):
    harness.simulate("adaptive_threshold", SPEC, CASES, "runtime")
    entry = next(fresh_cache.rglob("obs.npz"))
    with np.load(entry, allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)
