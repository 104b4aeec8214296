"""``./dev genn``: GeNN 4.9.0 staged outside the repository, fixed for CUDA 13, built, announced.

The fast tests use a fake GeNN tree whose Makefile only records what it was asked to build; the
slow one builds the real GeNN found through ``GENN_PATH`` (its source tree) into a scratch folder,
with the CUDA backend where a CUDA toolkit is installed (no GPU needed to compile it).
"""

from __future__ import annotations

import shutil
import tarfile
import urllib.error
from pathlib import Path

import pytest

from autograde import genn_install as gi
from graders import backends

ORIGINAL_BLOCK = (
    "    CHECK_CU_ERRORS(cuDeviceGet(&cuDevice, deviceID));\n"
    "    CHECK_CU_ERRORS(cuCtxCreate(&cuContext, 0, cuDevice));\n"
    "\n"
)
# Upstream commit f58583416 (GeNN 5), line for line.
FIXED_BLOCK = (
    "    CHECK_CU_ERRORS(cuDeviceGet(&cuDevice, deviceID));\n"
    "#if CUDA_VERSION < 13000\n"
    "    CHECK_CU_ERRORS(cuCtxCreate(&cuContext, 0, cuDevice));\n"
    "#else\n"
    "    CHECK_CU_ERRORS(cuCtxCreate(&cuContext, NULL, 0, cuDevice));\n"
    "#endif\n"
    "\n"
)
MAKEFILE = """\
libgenn single_threaded_cpu cuda:
\t@echo "$@ CUDA_PATH=$(CUDA_PATH)" >> built.txt
"""
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")


def fake_source(root: Path, version: str = "4.9.0", optimiser: str = ORIGINAL_BLOCK) -> Path:
    """A GeNN-shaped tree: version.txt, the CUDA optimiser, a Makefile that records targets."""
    (root / gi.OPTIMISER).parent.mkdir(parents=True)
    (root / gi.OPTIMISER).write_text(optimiser)
    (root / "version.txt").write_text(version + "\n")
    (root / "Makefile").write_text(MAKEFILE)
    return root


def tarball(tmp_path: Path, **kw) -> Path:
    src = fake_source(tmp_path / "genn-4.9.0", **kw)
    out = tmp_path / "genn-4.9.0.tar.gz"
    with tarfile.open(out, "w:gz") as tar:
        tar.add(src, arcname="genn-4.9.0")
    shutil.rmtree(src)
    return out


# --- the fix ---------------------------------------------------------------------------------


def test_fix_is_upstreams_three_lines():
    text, changed = gi.patch_cuda13(ORIGINAL_BLOCK)
    assert changed and text == FIXED_BLOCK


def test_fix_applied_twice_changes_nothing():
    once, _ = gi.patch_cuda13(ORIGINAL_BLOCK)
    again, changed = gi.patch_cuda13(once)
    assert not changed and again == once


def test_fix_keeps_windows_line_ends():
    text, _ = gi.patch_cuda13(ORIGINAL_BLOCK.replace("\n", "\r\n"))
    assert text == FIXED_BLOCK.replace("\n", "\r\n")


@pytest.mark.parametrize(
    "text",
    [
        "int main() {}\n",  # neither form
        "    CHECK_CU_ERRORS(cuCtxCreate(&cuContext, NULL, 0, cuDevice));\n",  # GeNN 5, unguarded
        ORIGINAL_BLOCK + ORIGINAL_BLOCK,  # two calls: not the file we know
    ],
)
def test_fix_refuses_a_file_it_does_not_know(text):
    with pytest.raises(gi.InstallError, match="cannot apply the CUDA 13 fix.*not GeNN 4.9.0"):
        gi.patch_cuda13(text)


# --- the source and the build ----------------------------------------------------------------


@needs_make
def test_install_from_a_tarball_fixes_and_builds_outside_the_repo(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_PATH", raising=False)
    prefix = gi.install(tarball(tmp_path), tmp_path / "out" / "genn", jobs=1, cuda=None)
    assert (prefix / "version.txt").read_text().strip() == "4.9.0"
    assert (prefix / gi.OPTIMISER).read_text() == FIXED_BLOCK
    assert (prefix / "built.txt").read_text().split("\n")[:2] == [
        "libgenn CUDA_PATH=",
        "single_threaded_cpu CUDA_PATH=",
    ]
    assert not list((tmp_path / "out").glob(".genn-stage-*"))  # the staging folder is gone


@needs_make
def test_install_from_a_folder_builds_cuda_when_given_its_root(tmp_path):
    src = fake_source(tmp_path / "src")
    (src / "obj").mkdir()
    (src / "obj" / "old.o").write_text("built elsewhere")
    cuda = tmp_path / "cuda"
    prefix = gi.install(src, tmp_path / "genn", jobs=2, cuda=cuda)
    built = (prefix / "built.txt").read_text().splitlines()
    assert sorted(built) == sorted(
        f"{t} CUDA_PATH={cuda}" for t in ("libgenn", "single_threaded_cpu", "cuda")
    )
    assert not (prefix / "obj" / "old.o").exists()  # built outputs are not copied
    assert (src / gi.OPTIMISER).read_text() == ORIGINAL_BLOCK  # the source is left alone


@needs_make
def test_running_again_reuses_the_install(tmp_path, capsys):
    prefix = gi.install(tarball(tmp_path), tmp_path / "genn", jobs=1)
    capsys.readouterr()
    assert gi.install(None, prefix, jobs=1) == prefix  # no source needed, nothing downloaded
    out = capsys.readouterr().out
    assert "reusing" in out and "already in" in out
    assert (prefix / gi.OPTIMISER).read_text() == FIXED_BLOCK
    assert len((prefix / "built.txt").read_text().splitlines()) == 4


def test_other_genn_versions_are_refused(tmp_path):
    with pytest.raises(gi.InstallError, match="holds GeNN 5.1.0; Brian2GeNN 1.7 needs GeNN 4.9.0"):
        gi.install(fake_source(tmp_path / "src", "5.1.0"), tmp_path / "genn")
    assert not (tmp_path / "genn").exists()


def test_a_folder_that_is_not_genn_is_refused(tmp_path):
    (tmp_path / "src").mkdir()
    with pytest.raises(gi.InstallError, match="not GeNN's source"):
        gi.install(tmp_path / "src", tmp_path / "genn")


def test_a_missing_source_is_named(tmp_path):
    with pytest.raises(gi.InstallError, match="no such file or folder"):
        gi.install(tmp_path / "genn-4.9.0.tar.gz", tmp_path / "genn")


def test_a_file_that_is_not_a_tarball_is_named(tmp_path):
    (tmp_path / "x.tar.gz").write_text("not a tarball")
    with pytest.raises(gi.InstallError, match="cannot unpack"):
        gi.install(tmp_path / "x.tar.gz", tmp_path / "genn")


def test_a_prefix_inside_the_repository_is_refused(tmp_path):
    with pytest.raises(gi.InstallError, match="inside this repository"):
        gi.install(tarball(tmp_path), gi.REPO / "genn")
    assert not (gi.REPO / "genn").exists()


def test_a_prefix_holding_something_else_is_refused(tmp_path):
    (tmp_path / "genn").mkdir()
    (tmp_path / "genn" / "notes.txt").write_text("mine")
    with pytest.raises(gi.InstallError, match="not a GeNN install"):
        gi.install(tarball(tmp_path), tmp_path / "genn")


def test_offline_download_says_to_use_from(tmp_path, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(gi.urllib.request, "urlopen", offline)
    with pytest.raises(gi.InstallError) as info:
        gi.install(None, tmp_path / "genn")
    msg = str(info.value)
    assert gi.GENN_URL in msg and "Name or service not known" in msg and "--from" in msg
    assert not (tmp_path / "genn").exists() and not list(tmp_path.glob(".genn-stage-*"))


def test_default_prefix_is_outside_the_repository(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert gi.default_prefix() == tmp_path / "brian2genn-autograder" / "genn-4.9.0"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert gi.default_prefix() == Path.home() / ".local/share/brian2genn-autograder/genn-4.9.0"


@needs_make
def test_command_prints_the_export_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(backends, "cuda_path", lambda: None)
    rc = gi.main(["--from", str(tarball(tmp_path)), "--prefix", str(tmp_path / "g"), "-j", "1"])
    out = capsys.readouterr().out
    assert rc == 0 and f"export GENN_PATH={tmp_path / 'g'}\n" in out
    assert "CPU backend only" in out


def test_command_failure_exits_1_with_the_reason(tmp_path, capsys):
    assert gi.main(["--from", str(tmp_path / "nothing"), "--prefix", str(tmp_path / "g")]) == 1
    assert "error: --from" in capsys.readouterr().err


# --- the real GeNN ---------------------------------------------------------------------------


@pytest.mark.genn
@pytest.mark.slow
def test_real_genn_builds_with_the_fix(tmp_path):
    """GeNN 4.9.0's own source (GENN_PATH's tree) installs and builds; with a CUDA toolkit
    installed (CUDA 13 included: the fix is what makes it compile), the CUDA backend too."""
    source = backends.genn_path()
    if not (source / gi.OPTIMISER).is_file():
        pytest.skip(f"GENN_PATH ({source}) is an installed GeNN without its source tree")
    cuda = backends.cuda_path()
    prefix = gi.install(source, tmp_path / "genn", cuda=cuda)
    assert "#if CUDA_VERSION < 13000" in (prefix / gi.OPTIMISER).read_text()
    assert (prefix / "lib" / "libgenn.a").is_file()
    assert (prefix / "lib" / "libgenn_single_threaded_cpu_backend.a").is_file()
    assert backends.genn_cuda_library(prefix).is_file() == (cuda is not None)


@pytest.mark.parametrize("safe_filter", [True, False], ids=["data-filter", "own-check"])
def test_a_tarball_reaching_outside_is_refused(tmp_path, monkeypatch, safe_filter):
    if not safe_filter:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)  # Python < 3.11.4
    evil = tmp_path / "evil.tar.gz"
    (tmp_path / "payload").write_text("x")
    with tarfile.open(evil, "w:gz") as tar:
        tar.add(tmp_path / "payload", arcname="../outside.txt")
    with pytest.raises(gi.InstallError, match="cannot unpack"):
        gi.install(evil, tmp_path / "deep" / "genn")
    assert list((tmp_path / "deep").iterdir()) == []  # nothing left behind, staging included


@needs_make
def test_tarball_without_the_data_filter_still_installs(tmp_path, monkeypatch):
    monkeypatch.delattr(tarfile, "data_filter", raising=False)  # Python < 3.11.4
    prefix = gi.install(tarball(tmp_path), tmp_path / "genn", jobs=1)
    assert (prefix / gi.OPTIMISER).read_text() == FIXED_BLOCK
