"""Every GPU of the server: which are found, which ``--gpus`` chooses, and that workers and batch
builds take them round-robin, each simulation seeing its GPU alone. No GPU needed: the
discovery takes its sources as arguments and the assignment is observed in the environment."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograde import batches, pipeline
from autograde.progress import Silent
from graders import gpus, harness, settings, simenv
from graders.gpus import Gpu, GpuError

REPO = Path(__file__).resolve().parent.parent

SMI = """GPU 0: NVIDIA H200 (UUID: GPU-aaaa)
GPU 1: NVIDIA H200 (UUID: GPU-bbbb)
  MIG 1g.18gb     Device  0: (UUID: MIG-cccc)
GPU 2: NVIDIA H100 80GB HBM3 (UUID: GPU-dddd)
"""
THREE = [
    Gpu("0", "NVIDIA H200", "GPU-aaaa"),
    Gpu("1", "NVIDIA H200", "GPU-bbbb"),
    Gpu("2", "NVIDIA H100 80GB HBM3", "GPU-dddd"),
]


def test_nvidia_smi_lists_the_gpus():
    assert gpus.parse_smi(SMI) == THREE
    assert gpus.parse_smi("") == [] and gpus.parse_smi("No devices were found") == []


def test_found_is_every_gpu_without_cuda_visible_devices():
    assert gpus.found({}, smi=lambda: SMI) == THREE
    assert gpus.found({}, smi=lambda: None) == []


@pytest.mark.parametrize(
    "visible, expected",
    [
        ("2,0", [THREE[2], THREE[0]]),  # in CUDA's order, matched to nvidia-smi's names
        ("GPU-bbbb", [THREE[1]]),
        ("", []),
        ("-1", []),
        ("0,-1,1", [THREE[0]]),  # CUDA stops at the first entry it cannot use
        ("7", [Gpu("7")]),  # not in nvidia-smi's list: kept as given
    ],
)
def test_found_follows_cuda_visible_devices(visible, expected):
    assert gpus.found({"CUDA_VISIBLE_DEVICES": visible}, smi=lambda: SMI) == expected


def test_found_without_nvidia_smi_takes_cuda_visible_devices_as_it_is():
    got = gpus.found({"CUDA_VISIBLE_DEVICES": "1,3"}, smi=lambda: None)
    assert got == [Gpu("1"), Gpu("3")] and [g.visible for g in got] == ["1", "3"]


def test_gpus_option_chooses_among_those_found():
    assert gpus.choose("", THREE) == THREE
    assert gpus.choose("0,2", THREE) == [THREE[0], THREE[2]]
    assert gpus.choose(" 2 , GPU-aaaa, 2", THREE) == [THREE[2], THREE[0]]
    with pytest.raises(GpuError, match=r"no GPU '5' here \(the GPUs found: 0, 1, 2\)"):
        gpus.choose("0,5", THREE)
    with pytest.raises(GpuError, match="no GPU was found"):
        gpus.choose("0", [])
    assert gpus.choose("", []) == []


def test_round_robin_and_the_environment_that_shows_one_gpu():
    chosen = [THREE[0], THREE[2]]
    assert [gpus.assign(chosen, i) for i in range(5)] == [THREE[0], THREE[2]] * 2 + [THREE[0]]
    assert gpus.assign([], 3) is None and gpus.visible_env(None) == {}
    assert gpus.visible_env(THREE[2]) == {
        "CUDA_VISIBLE_DEVICES": "GPU-dddd",  # a UUID: the same device in any order
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
    }
    assert gpus.visible_env(Gpu("3"))["CUDA_VISIBLE_DEVICES"] == "3"


def test_each_worker_process_takes_the_next_gpu(monkeypatch):
    counter = multiprocessing.get_context("spawn").Value("i", 0)
    seen = []
    for _ in range(3):
        env: dict[str, str] = {}
        monkeypatch.setattr(gpus.os, "environ", env)
        gpus.take(["GPU-aaaa", "GPU-dddd"], counter)
        seen.append(env.get("CUDA_VISIBLE_DEVICES"))
    assert seen == ["GPU-aaaa", "GPU-dddd", "GPU-aaaa"]
    env = {}
    monkeypatch.setattr(gpus.os, "environ", env)
    gpus.take([], counter)  # no GPU to give: the environment is left alone
    assert env == {}


def _wait_for_all(folder: str, n: int) -> tuple[int, str | None]:
    """Run in a worker: register this process and wait until ``n`` have, so that every worker
    of the pool answers once."""
    Path(folder, str(os.getpid())).touch()
    deadline = time.monotonic() + 120
    while len(os.listdir(folder)) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES")


def test_the_pipelines_worker_pool_gives_its_workers_gpus_round_robin(tmp_path):
    chosen = [THREE[0], THREE[2]]
    pool = pipeline.worker_pool(3, chosen)
    try:
        futures = [pool.submit(_wait_for_all, str(tmp_path), 3) for _ in range(3)]
        got = dict(f.result(timeout=300) for f in futures)
    finally:
        pool.shutdown()
    assert len(got) == 3  # three processes, each answering once
    assert sorted(got.values()) == ["GPU-aaaa", "GPU-aaaa", "GPU-dddd"]


def test_the_pipeline_uses_gpus_on_genn_only(monkeypatch):
    monkeypatch.setattr(gpus, "found", lambda: THREE)
    monkeypatch.setattr(pipeline.backends, "choose", lambda b: b)
    assert pipeline._gpus("genn", "0,2") == [THREE[0], THREE[2]]
    assert pipeline._gpus("genn", "") == THREE
    assert pipeline._gpus("genn-cpu", "0,2") == []
    with pytest.raises(GpuError, match="no GPU '9' here"):
        pipeline._gpus("genn", "9")
    # the GPUs chosen are a note to the caller's reporter, not a line on stderr
    notes = []
    reporter = type("Notes", (Silent,), {"note": lambda self, line: notes.append(line)})()
    pipeline._gpus("genn", "0,2", reporter)
    assert len(notes) == 1 and notes[0].startswith("GPUs: ") and "round-robin" in notes[0]


def test_batch_builds_take_the_gpus_round_robin(tmp_path, monkeypatch):
    seen = []

    def fake_batch(assignment, batch, cases, backend, *, on_locked, gpu, **kw):
        on_locked()
        seen.append((len(batch), gpu))
        return ["built"] * len(batch)

    monkeypatch.setattr(batches, "simulate_batch", fake_batch)
    monkeypatch.setattr(batches, "class_specs", lambda c, a, s: ([{"i": i} for i in range(3)], 3))
    monkeypatch.setattr(batches, "GPU_BATCH_SIZE", 1)  # one answer a model: three models
    monkeypatch.setattr(batches, "gpu_memory_mb", lambda: None)
    chosen = [THREE[0], THREE[2]]
    thread, report = batches.start(
        tmp_path, "adaptive_threshold", ["a", "b", "c"], "genn", None, gpus=chosen
    )
    thread.join(60)
    assert report.batches == 3 and report.status == {"built": 3}, report
    assert sorted(g.index for _, g in seen) == ["0", "0", "2"]
    seen.clear()
    thread, report = batches.start(
        tmp_path, "adaptive_threshold", ["a", "b", "c"], "genn-cpu", None, gpus=chosen
    )
    thread.join(60)
    assert seen and all(g is None for _, g in seen)  # the CPU backend: no GPU to hand out


def test_a_batch_build_shows_its_simulation_process_its_gpu(tmp_path, monkeypatch):
    seen = {}

    def fake_run(jobdir, job, cdir, timeout, memory_mb, event="build", env=None):
        seen.update(env or {})
        raise harness.SimulationFailed("crashed", "stop here")

    monkeypatch.setattr(harness, "_run_simulator", fake_run)
    specs = [{"model": "a"}, {"model": "b"}]
    status = harness.simulate_batch(
        "adaptive_threshold", specs, [], "genn", cache_dir=tmp_path, gpu=THREE[1]
    )
    assert status == ["failed", "failed"]
    assert seen == {"CUDA_VISIBLE_DEVICES": "GPU-bbbb", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}


def test_the_sandbox_passes_the_gpu_and_the_levers_on(tmp_path):
    env = dict(
        os.environ,
        CUDA_VISIBLE_DEVICES="GPU-bbbb",
        CUDA_DEVICE_ORDER="PCI_BUS_ID",
        **{settings.GENN_LEVERS_OFF_ENV: "manual"},
    )
    _, fds, new = simenv.simulator_sandbox(["true"], tmp_path, env, "genn")
    for fd in fds:
        os.close(fd)
    assert new["CUDA_VISIBLE_DEVICES"] == "GPU-bbbb" and new["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert new[settings.GENN_LEVERS_OFF_ENV] == "manual"


def test_autograde_backends_lists_the_gpus_found(tmp_path):
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\ncat <<'EOF'\n" + SMI + "EOF\n")
    smi.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    env["PYTHONPATH"] = str(REPO)
    env.pop("CUDA_VISIBLE_DEVICES", None)
    cmd = [sys.executable, "-m", "autograde", "backends"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120).stdout
    assert "GPUs:      3 found (nvidia-smi -L)" in out, out
    assert "GPU 2: NVIDIA H100 80GB HBM3 (GPU-dddd)" in out
    env["CUDA_VISIBLE_DEVICES"] = "1"
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120).stdout
    assert "GPUs:      1 found (CUDA_VISIBLE_DEVICES)" in out and "GPU 1: NVIDIA H200" in out
