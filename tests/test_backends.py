"""Backend detection follows Brian2GeNN's rules and never falls back silently."""

from __future__ import annotations

import pytest

from graders import backends, settings


@pytest.fixture
def no_genn(monkeypatch, tmp_path):
    monkeypatch.delenv("GENN_PATH", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no genn-buildmodel.sh, no nvcc
    monkeypatch.delenv("CUDA_PATH", raising=False)


def fake_genn(root, version="4.9.0"):
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "genn-buildmodel.sh").write_text("#!/bin/sh\n")
    (root / "bin" / "genn-buildmodel.sh").chmod(0o755)
    (root / "version.txt").write_text(version + "\n")
    return root


def table():
    return {b.name: b for b in backends.detect()}


def test_without_genn_best_is_cpp_standalone(no_genn):
    t = table()
    assert not t["genn"].available and not t["genn-cpu"].available
    assert "GENN_PATH unset" in t["genn-cpu"].reason
    assert t["runtime"].available
    assert backends.choose() == ("cpp_standalone" if backends.compiler() else "runtime")


def test_asking_for_genn_where_absent_says_how_to_install(no_genn):
    with pytest.raises(backends.BackendUnavailable) as info:
        backends.choose("genn-cpu")
    assert "GENN_PATH" in str(info.value) and "4.9" in str(info.value)


def test_environment_variable_forces_a_backend(no_genn, monkeypatch):
    monkeypatch.setenv(settings.BACKEND_ENV, "runtime")
    assert backends.choose() == "runtime"
    monkeypatch.setenv(settings.BACKEND_ENV, "genn")
    with pytest.raises(backends.BackendUnavailable):
        backends.choose()


def test_unknown_backend_is_an_error():
    with pytest.raises(backends.BackendUnavailable, match="unknown backend"):
        backends.choose("gpu")


def test_genn_path_with_genn_49_enables_genn_cpu(no_genn, monkeypatch, tmp_path):
    monkeypatch.setenv("GENN_PATH", str(fake_genn(tmp_path / "genn")))
    t = table()
    assert t["genn-cpu"].available == (backends.compiler() is not None)
    assert "GeNN 4.9.0" in t["genn-cpu"].where
    assert not t["genn"].available  # no CUDA here


def test_genn_found_through_path(no_genn, monkeypatch, tmp_path):
    root = fake_genn(tmp_path / "g")
    monkeypatch.setenv("PATH", str(root / "bin"))
    assert backends.genn_path() == root.resolve()


def test_genn_5_is_rejected(no_genn, monkeypatch, tmp_path):
    monkeypatch.setenv("GENN_PATH", str(fake_genn(tmp_path / "genn5", "5.1.0")))
    assert "needs GeNN 4.x" in table()["genn-cpu"].reason


def test_genn_path_that_is_not_genn(no_genn, monkeypatch, tmp_path):
    monkeypatch.setenv("GENN_PATH", str(tmp_path))
    assert "version.txt missing" in table()["genn-cpu"].reason


# --- CUDA's root and what `genn` lacks ------------------------------------------------------


def fake_cuda(root):
    """A CUDA tree with the two files the rules look at: include/cuda.h and bin/nvcc."""
    (root / "include").mkdir(parents=True)
    (root / "include" / "cuda.h").write_text("#define CUDA_VERSION 13000\n")
    (root / "bin").mkdir()
    (root / "bin" / "nvcc").write_text("#!/bin/sh\necho nvcc\n")
    (root / "bin" / "nvcc").chmod(0o755)
    return root


def wrapper(path, target):
    """A two-line script that execs ``target``, as /usr/local/bin/nvcc does on CUDA servers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\nexec {target} "$@"\n')
    path.chmod(0o755)
    return path


def cuda_root(tmp_path, **env):
    """``cuda_path`` with ``env`` as the environment and no CUDA at the default place."""
    return backends.cuda_path(backends.cuda_candidates(env, default=tmp_path / "no-usr-local-cuda"))


def test_cuda_path_variable_comes_first(tmp_path):
    mine = fake_cuda(tmp_path / "mine")
    fake_cuda(tmp_path / "usr-local-cuda")
    cands = backends.cuda_candidates({"CUDA_PATH": str(mine)}, default=tmp_path / "usr-local-cuda")
    assert backends.cuda_path(cands) == mine


def test_cuda_path_without_headers_falls_through_to_the_default(tmp_path):
    default = fake_cuda(tmp_path / "usr-local-cuda")
    cands = backends.cuda_candidates({"CUDA_PATH": str(tmp_path / "empty")}, default=default)
    assert backends.cuda_path(cands) == default


def test_cuda_root_behind_a_wrapper_script_is_the_real_one(tmp_path):
    real = fake_cuda(tmp_path / "cuda-13.0")
    # /usr/local/bin/nvcc -> exec /usr/local/cuda-13.0/bin/nvcc: the root is not /usr/local
    (tmp_path / "usr-local" / "include").mkdir(parents=True)
    wrapper(tmp_path / "usr-local" / "bin" / "nvcc", real / "bin" / "nvcc")
    assert backends.real_nvcc(tmp_path / "usr-local" / "bin" / "nvcc") == real / "bin" / "nvcc"
    assert cuda_root(tmp_path, PATH=str(tmp_path / "usr-local" / "bin")) == real


def test_cuda_root_behind_a_symlink_is_the_real_one(tmp_path):
    real = fake_cuda(tmp_path / "cuda-12.4")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "nvcc").symlink_to(real / "bin" / "nvcc")
    assert cuda_root(tmp_path, PATH=str(tmp_path / "bin")) == real


def test_wrapper_script_naming_no_existing_nvcc_is_taken_as_it_is(tmp_path):
    script = wrapper(tmp_path / "bin" / "nvcc", "/nowhere/cuda/bin/nvcc")
    assert backends.real_nvcc(script) == script.resolve()
    assert cuda_root(tmp_path, PATH=str(tmp_path / "bin")) is None


def test_no_cuda_anywhere(tmp_path):
    assert cuda_root(tmp_path, PATH=str(tmp_path)) is None
    assert cuda_root(tmp_path, PATH=str(tmp_path), CUDA_PATH=str(tmp_path / "nope")) is None


@pytest.fixture
def genn_with(no_genn, monkeypatch, tmp_path):
    """GeNN 4.9 at GENN_PATH, CUDA at CUDA_PATH (no default folder); each piece switchable."""

    def make(*, cuda_lib=True, cuda=True, nvcc=True, gpu=True):
        root = fake_genn(tmp_path / "genn")
        if cuda_lib:
            (root / "lib").mkdir()
            backends.genn_cuda_library(root).write_text("")
        monkeypatch.setenv("GENN_PATH", str(root))
        monkeypatch.setattr(backends, "CUDA_DEFAULT", tmp_path / "no-usr-local-cuda")
        if cuda:
            ct = fake_cuda(tmp_path / "cuda")
            if not nvcc:
                (ct / "bin" / "nvcc").unlink()
            monkeypatch.setenv("CUDA_PATH", str(ct))
        monkeypatch.setattr(backends, "has_cuda_gpu", lambda: gpu)
        return table()["genn"]

    return make


def test_genn_with_every_piece_is_available(genn_with):
    b = genn_with()
    assert b.available and b.reason == ""


def test_genn_names_the_unbuilt_cuda_library_and_the_fix(genn_with, tmp_path):
    reason = genn_with(cuda_lib=False).reason
    assert "GeNN's CUDA backend is not built" in reason
    assert str(tmp_path / "genn" / "lib" / "libgenn_cuda_backend.a") in reason
    assert "./dev genn" in reason and f"make -C {tmp_path / 'genn'} cuda" in reason
    assert "GPU" not in reason and "nvcc" not in reason


def test_genn_names_missing_cuda(genn_with):
    reason = genn_with(cuda=False).reason
    assert reason.startswith("no CUDA toolkit") and "CUDA_PATH" in reason


def test_genn_names_missing_nvcc(genn_with, tmp_path):
    assert genn_with(nvcc=False).reason == (
        f"no nvcc in {tmp_path / 'cuda' / 'bin'} (CUDA at {tmp_path / 'cuda'}): "
        "install CUDA's compiler"
    )


def test_genn_names_a_missing_gpu(genn_with):
    reason = genn_with(gpu=False).reason
    assert reason.startswith("no NVIDIA GPU visible")


def test_genn_names_every_missing_piece_at_once(genn_with):
    reason = genn_with(cuda_lib=False, cuda=False, gpu=False).reason
    assert [part.split(" ")[0:2] for part in reason.split("; ")] == [
        ["GeNN's", "CUDA"],
        ["no", "CUDA"],
        ["no", "NVIDIA"],
    ]


def test_autograde_backends_prints_each_missing_piece(genn_with, capsys):
    from autograde import cli

    genn_with(cuda_lib=False, gpu=False)
    assert cli.main(["backends"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("genn "))
    assert "missing" in line and "CUDA backend is not built" in line and "no NVIDIA GPU" in line
    assert "CUDA:      " in out and "cuda" in out.split("CUDA:      ")[1].splitlines()[0]
