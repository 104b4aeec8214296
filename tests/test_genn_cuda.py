"""One nvcc build per model on ``genn``: the preferences the simulation process sets reach the
generated GeNN project, and nvcc goes through ccache.

Without a GPU: the CUDA project is generated (Brian2GeNN writes it without compiling, which
needs no GeNN, CUDA or GPU) and its model definition is read. With GeNN (``genn``), that model
definition is compiled against GeNN 4.9.0's CUDA backend headers, as ``genn-buildmodel`` would
before it runs (that run itself needs a GPU), and a ``genn-cpu`` build shows the CPU backend
untouched but for parallel make.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from graders import backends, genn_cuda, settings

REPO = Path(__file__).resolve().parent.parent

# Generates the CUDA project of a tiny network through backends.activate, without compiling,
# and prints the levers and the preferences as the simulation process set them.
GENERATE = """
import json, os, sys
import brian2 as b
from graders import backends
d = sys.argv[1]
levers = backends.activate("genn", d)
dev = b.get_device()
dev.build_on_run = False
g = b.NeuronGroup(3, "dv/dt = -v/(10*ms) : 1", threshold="v>1", reset="v=0")
s = b.Synapses(g, g, on_pre="v += 0.1")
s.connect(i=[0, 1], j=[1, 2])
b.run(1 * b.ms)
dev.run_statement_used = False  # as when run() builds (it sets this after its build)
dev.build(directory=d, compile=False, run=False, use_GPU=True)
prefix = "devices.genn.cuda_backend."
prefs = {k[len(prefix):]: v for k, v in b.prefs.items() if k.startswith(prefix)}
print(json.dumps({"levers": levers, "makeflags": os.environ.get("MAKEFLAGS"), "prefs": prefs}))
"""


def fake_cuda(tmp: Path) -> Path:
    """A CUDA folder with the header the backends look for and an nvcc that logs its calls."""
    root = tmp / "cuda"
    (root / "include").mkdir(parents=True)
    (root / "include" / "cuda.h").write_text("/* fake */\n")
    (root / "lib64").mkdir()
    (root / "bin").mkdir()
    nvcc = root / "bin" / "nvcc"
    nvcc.write_text(f'#!/bin/sh\necho "nvcc $*" >> {tmp / "calls.log"}\n')
    nvcc.chmod(0o755)
    return root


def fake_ccache(tmp: Path) -> Path:
    """A folder holding a ``ccache`` that logs its arguments and runs them."""
    folder = tmp / "ccache-bin"
    folder.mkdir()
    exe = folder / "ccache"
    exe.write_text(f'#!/bin/sh\necho "ccache $*" >> {tmp / "calls.log"}\nexec "$@"\n')
    exe.chmod(0o755)
    return folder


def generate(tmp: Path, **env) -> tuple[dict, str]:
    """Generate the CUDA project in ``tmp/build``; the printed record and the model definition."""
    genn = tmp / "genn"
    genn.mkdir(exist_ok=True)
    (genn / "version.txt").write_text("4.9.0\n")
    full = dict(os.environ, GENN_PATH=str(genn), PYTHONPATH=str(REPO))
    full.pop(settings.GENN_LEVERS_OFF_ENV, None)
    full.pop("CCACHE_DISABLE", None)
    full.update(env)
    build = tmp / "build"
    out = subprocess.run(
        [sys.executable, "-c", GENERATE, str(build)],
        env=full,
        capture_output=True,
        text=True,
        cwd=tmp,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    record = json.loads(out.stdout.strip().splitlines()[-1])
    return record, (build / genn_cuda.MODEL_FILE).read_text()


def preference_lines(model: str) -> list[str]:
    return [line.strip() for line in model.splitlines() if "GENN_PREFERENCES." in line]


def test_the_generated_cuda_model_asks_for_one_compile(tmp_path):
    cuda = fake_cuda(tmp_path)
    path = f"{fake_ccache(tmp_path)}{os.pathsep}{os.environ['PATH']}"
    record, model = generate(tmp_path, CUDA_PATH=str(cuda), PATH=path)
    lines = preference_lines(model)
    assert "GENN_PREFERENCES.deviceSelectMethod = DeviceSelect::MANUAL;" in lines
    assert "GENN_PREFERENCES.manualDeviceID = 0;" in lines
    assert "GENN_PREFERENCES.blockSizeSelectMethod = BlockSizeSelect::MANUAL;" in lines
    sizes = re.search(r"manualBlockSizes = \{([^}]*)\}", model).group(1)
    assert [int(x) for x in sizes.split(",")] == [genn_cuda.BLOCK_SIZE] * 9
    # on, once, after the last preference Brian2GeNN's template sets
    assert lines.count(genn_cuda.SIMPLE_ERRORS_LINE) == 1
    assert lines[-1] == genn_cuda.SIMPLE_ERRORS_LINE
    assert lines[-2].startswith("GENN_PREFERENCES.userNvccFlags")
    # Brian2GeNN's preferences as the simulation process left them
    prefs = record["prefs"]
    assert prefs["device_select"] == "MANUAL" and prefs["manual_device"] == 0
    assert prefs["blocksize_select_method"] == "MANUAL"
    assert {prefs[n] for n in genn_cuda.BLOCK_SIZE_PREFS} == {genn_cuda.BLOCK_SIZE}
    # nvcc through ccache: Brian2GeNN's CUDA folder is the wrapper's, beside the build
    shim = tmp_path / "build-cuda-ccache"
    assert prefs["cuda_path"] == str(shim)
    assert (shim / "include" / "cuda.h").is_file() and (shim / "lib64").resolve() == (
        cuda / "lib64"
    )
    jobs = genn_cuda.make_jobs()
    assert record["makeflags"] == f"-j{jobs}"
    assert record["levers"] == {
        "make_jobs": jobs,
        "manual": {"device": 0, "block_size": genn_cuda.BLOCK_SIZE},
        "simple_errors": True,
        "nvcc_ccache": str(shim / "bin" / "nvcc"),
    }


def test_levers_turned_off_leave_brian2genns_defaults(tmp_path):
    cuda = fake_cuda(tmp_path)
    off = ",".join(genn_cuda.LEVERS)
    record, model = generate(
        tmp_path, CUDA_PATH=str(cuda), **{settings.GENN_LEVERS_OFF_ENV: off, "MAKEFLAGS": ""}
    )
    lines = preference_lines(model)
    assert "GENN_PREFERENCES.deviceSelectMethod = DeviceSelect::OPTIMAL;" in lines
    assert "GENN_PREFERENCES.blockSizeSelectMethod = BlockSizeSelect::OCCUPANCY;" in lines
    assert not any("generateSimpleErrorHandling" in line for line in lines)
    assert record["prefs"]["cuda_path"] == str(cuda)
    assert record["levers"] == {} and not record["makeflags"]


def test_simple_error_handling_goes_after_the_templates_preferences():
    model = (
        "void modelDefinition(NNmodel &model)\n{\n"
        "    GENN_PREFERENCES.manualDeviceID = 0;\n"
        '    GENN_PREFERENCES.userNvccFlags = "";\n'
        "    model.setDT(0.0001);\n}\n"
    )
    new = genn_cuda.add_simple_error_handling(model)
    assert new.splitlines()[4] == "    " + genn_cuda.SIMPLE_ERRORS_LINE
    assert new.replace("    " + genn_cuda.SIMPLE_ERRORS_LINE + "\n", "") == model
    assert genn_cuda.add_simple_error_handling(new) == new  # once


def test_a_model_without_the_templates_preferences_is_refused_with_the_way_out():
    cpu_model = "void modelDefinition(NNmodel &model)\n{\n    model.setDT(0.0001);\n}\n"
    with pytest.raises(genn_cuda.GennSetupError) as err:
        genn_cuda.add_simple_error_handling(cpu_model)
    assert "userNvccFlags" in str(err.value)
    assert f"{settings.GENN_LEVERS_OFF_ENV}=simple_errors" in str(err.value)


def test_an_unknown_lever_is_an_error_naming_the_levers():
    with pytest.raises(ValueError, match="manual, simple_errors, make_jobs, nvcc_ccache"):
        genn_cuda.levers_off({settings.GENN_LEVERS_OFF_ENV: "manual,fast"})
    assert genn_cuda.levers_off({settings.GENN_LEVERS_OFF_ENV: " manual , "}) == {"manual"}


def test_make_jobs_are_bounded_by_geNNs_modules(monkeypatch):
    monkeypatch.setenv(settings.MAKE_JOBS_ENV, "64")
    assert genn_cuda.make_jobs() == genn_cuda.GENN_MODULES
    monkeypatch.setenv(settings.MAKE_JOBS_ENV, "2")
    assert genn_cuda.make_jobs() == 2


# --- ccache in front of nvcc ------------------------------------------------------------------


def test_the_nvcc_wrapper_runs_ccache_with_the_real_nvcc(tmp_path, monkeypatch):
    cuda = fake_cuda(tmp_path)
    # the CUDA folder's nvcc may itself be a wrapper script: ccache gets the binary behind it
    outer = tmp_path / "outer" / "nvcc"
    outer.parent.mkdir()
    outer.write_text(f'#!/bin/sh\nexec {cuda / "bin" / "nvcc"} "$@"\n')
    outer.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_ccache(tmp_path)}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CCACHE_DISABLE", raising=False)
    monkeypatch.delenv(settings.GENN_LEVERS_OFF_ENV, raising=False)
    build = tmp_path / "job" / "build"
    build.parent.mkdir()
    root = genn_cuda.cuda_root_for_build(cuda, backends.real_nvcc(outer), build, set())
    assert root == tmp_path / "job" / "build-cuda-ccache"
    out = subprocess.run(
        [str(root / "bin" / "nvcc"), "-c", "a b.cu", "-o", "x.o"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert calls == [f"ccache {cuda / 'bin' / 'nvcc'} -c a b.cu -o x.o", "nvcc -c a b.cu -o x.o"]
    # what GeNN reads under $(CUDA_PATH) besides nvcc is the real folder's
    assert (root / "include" / "cuda.h").read_text() == "/* fake */\n"
    # made again for the next build: nothing fails on what is there
    assert genn_cuda.cuda_root_for_build(cuda, cuda / "bin" / "nvcc", build, set()) == root


@pytest.mark.parametrize("why", ["CCACHE_DISABLE", "lever off", "no ccache", "no nvcc"])
def test_no_wrapper_where_ccache_is_off_or_missing(tmp_path, monkeypatch, why):
    cuda = fake_cuda(tmp_path)
    nvcc = cuda / "bin" / "nvcc"
    path = f"{fake_ccache(tmp_path)}{os.pathsep}{os.environ['PATH']}"
    monkeypatch.setenv("PATH", path if why != "no ccache" else str(tmp_path / "nothing"))
    monkeypatch.delenv("CCACHE_DISABLE", raising=False)
    if why == "CCACHE_DISABLE":
        monkeypatch.setenv("CCACHE_DISABLE", "1")
    off = {"nvcc_ccache"} if why == "lever off" else set()
    got = genn_cuda.cuda_root_for_build(
        cuda, None if why == "no nvcc" else nvcc, tmp_path / "build", off
    )
    assert got == cuda and not (tmp_path / "build-cuda-ccache").exists()


@pytest.mark.slow
def test_a_second_nvcc_build_of_the_same_module_is_a_ccache_hit(tmp_path, monkeypatch):
    """With the real ccache and the real nvcc (no GPU needed to compile)."""
    ccache, cp = shutil.which("ccache"), backends.cuda_path()
    nvcc = backends.cuda_nvcc(cp) if cp else None
    if not ccache or nvcc is None:
        pytest.skip(
            f"SKIPPED LOUDLY: needs ccache and CUDA's nvcc (ccache: {ccache}, CUDA: {cp}); "
            "install ccache and the CUDA toolkit to run it"
        )
    monkeypatch.delenv("CCACHE_DISABLE", raising=False)
    env = dict(os.environ, CCACHE_DIR=str(tmp_path / "ccache"), CCACHE_BASEDIR=str(tmp_path))
    env["CCACHE_NOHASHDIR"] = "1"
    source = "__global__ void k(float *x) { x[threadIdx.x] *= 2.0f; }\n"
    for job in ("job1", "job2"):  # two simulation processes' folders, the same module
        build = tmp_path / job / "build"
        build.mkdir(parents=True)
        (build / "neuronUpdate.cc").write_text(source)
        root = genn_cuda.cuda_root_for_build(cp, backends.real_nvcc(nvcc), build, set())
        # as GeNN's generated Makefile compiles a module: `$(NVCC) -dc $(NVCCFLAGS) $<`
        flags = ["-x", "cu", "-std=c++11", "--compiler-options", "-fPIC", "-O3"]
        out = subprocess.run(
            [str(root / "bin" / "nvcc"), "-dc", *flags, "neuronUpdate.cc"],
            cwd=build,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        assert (build / "neuronUpdate.o").is_file()
    stats = subprocess.run(
        [ccache, "--print-stats"], env=env, capture_output=True, text=True
    ).stdout
    counts = dict(line.split("\t")[:2] for line in stats.splitlines() if "\t" in line)
    hits = int(counts.get("direct_cache_hit", 0)) + int(counts.get("preprocessed_cache_hit", 0))
    assert hits == 1 and int(counts.get("cache_miss", 0)) == 1, stats


# --- with GeNN ---------------------------------------------------------------------------------


@pytest.mark.genn
def test_the_generated_preferences_compile_against_genn_49s_cuda_backend(tmp_path):
    """``genn-buildmodel`` compiles the model definition into GeNN's generator first; the same
    compile (syntax only: running the generator needs a GPU) fails on any preference that
    GeNN 4.9.0's CUDA backend does not have, ``generateSimpleErrorHandling`` included."""
    gp, cp = backends.genn_path(), backends.cuda_path()
    header = gp / "include" / "genn" / "backends" / "cuda" / "backend.h"
    if cp is None or not header.is_file():
        pytest.skip(
            f"SKIPPED LOUDLY: needs CUDA's headers (found: {cp}) and GeNN's CUDA backend headers "
            f"({header}); set CUDA_PATH"
        )
    _, model = generate(tmp_path, CUDA_PATH=str(cp), GENN_PATH=str(gp))
    build = tmp_path / "build"

    def compile_model(path: Path):
        cmd = ["g++", "-std=c++11", "-fsyntax-only"]
        for inc in ("genn/genn", "genn/third_party", "genn/backends/cuda"):
            cmd.append(f"-I{gp / 'include' / inc}")
        cmd += [f"-I{cp / 'include'}", f"-I{tmp_path}", f"-I{build}"]
        cmd += [f"-I{build / 'brianlib' / 'randomkit'}", "-DBACKEND_NAMESPACE=CUDA"]
        cmd += [f'-DMODEL="{path}"', str(gp / "src" / "genn" / "generator" / "generator.cc")]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300)

    out = compile_model(build / genn_cuda.MODEL_FILE)
    assert out.returncode == 0, out.stderr[-3000:]
    # the check can fail: a misspelled preference does not compile
    wrong = build / "wrong_model.cpp"
    wrong.write_text(model.replace("generateSimpleErrorHandling", "generateSimpleErrorHandlin"))
    out = compile_model(wrong)
    assert out.returncode != 0 and "generateSimpleErrorHandlin" in out.stderr


@pytest.mark.genn
@pytest.mark.slow
def test_genn_cpu_builds_with_parallel_make_and_no_cuda_preferences(tmp_path):
    from graders import harness
    from graders.assignments.adaptive_threshold import REFERENCE

    keep = tmp_path / "kept"
    sim = harness.simulate(
        "adaptive_threshold",
        dict(REFERENCE, method="euler"),
        backend="genn-cpu",
        cache_dir=tmp_path / "cache",
        use_cache=False,
        keep_build=keep,
    )
    assert sim.meta["levers"] == {"make_jobs": genn_cuda.make_jobs()}
    model = (keep / "build" / genn_cuda.MODEL_FILE).read_text()
    assert "GENN_PREFERENCES" not in model  # the CPU backend's model definition, untouched


@pytest.mark.cuda
@pytest.mark.slow
def test_a_cuda_build_takes_every_lever_and_grades(tmp_path):
    """On a GPU: the simulation process's CUDA build with the levers on runs, and its kept
    project shows them."""
    from graders import harness
    from graders.assignments.adaptive_threshold import REFERENCE

    keep = tmp_path / "kept"
    sim = harness.simulate(
        "adaptive_threshold",
        dict(REFERENCE, method="euler"),
        backend="genn",
        cache_dir=tmp_path / "cache",
        use_cache=False,
        keep_build=keep,
    )
    levers = sim.meta["levers"]
    assert levers["manual"] == {"device": 0, "block_size": genn_cuda.BLOCK_SIZE}
    assert levers["simple_errors"] is True and levers["make_jobs"] == genn_cuda.make_jobs()
    model = (keep / "build" / genn_cuda.MODEL_FILE).read_text()
    assert genn_cuda.SIMPLE_ERRORS_LINE in model and "DeviceSelect::MANUAL" in model
    assert len(sim.observables["t"]) > 0
