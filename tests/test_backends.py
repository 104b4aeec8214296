"""Backend detection follows Brian2GeNN's rules and never falls back silently."""

from __future__ import annotations

import pytest

from graders import backends


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
    monkeypatch.setenv(backends.ENV_VAR, "runtime")
    assert backends.choose() == "runtime"
    monkeypatch.setenv(backends.ENV_VAR, "genn")
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
