"""The offline bundle (``./dev bundle``): what it resolves, and a real one installed without an
index."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from autograde import bundle

REPO = Path(__file__).resolve().parent.parent
HERE = f"{sys.version_info[0]}.{sys.version_info[1]}"


def test_setuptools_is_pinned_per_python_version():
    text = (REPO / "constraints.txt").read_text()
    pins = {v: bundle.target_constraints(text, v) for v in bundle.SUPPORTED}
    # 65.5's pkg_resources needs pkgutil.ImpImporter (gone in 3.12); brian2genn imports it
    assert "setuptools==65.5.0" in pins["3.11"]
    assert not any(p.startswith("setuptools==65") for p in pins["3.12"])
    assert sum(p.lower().startswith("setuptools") for p in pins["3.12"]) == 1
    for v in bundle.SUPPORTED:
        assert "numpy==1.26.4" in pins[v] and "Brian2==2.5.4" in pins[v]
        assert not any(";" in p for p in pins[v])  # markers resolved for the target


def test_requirements_come_from_pyproject():
    reqs = bundle.project_requirements(REPO / "pyproject.toml")
    assert "brian2==2.5.4" in reqs and "nbgrader==0.9.6" in reqs
    assert "pytest" in reqs and "ruff" in reqs  # ./dev test runs there too


def test_platform_args_select_that_python_on_manylinux():
    args = bundle.platform_args("3.12")
    # a late patch release: wheels that want 3.12.N are taken, install.sh checks N
    assert args[args.index("--python-version") + 1].startswith("3.12.")
    assert "cp312" in args and "--only-binary" in args
    plats = {args[i + 1] for i, a in enumerate(args) if a == "--platform"}
    assert "manylinux2014_x86_64" in plats and "linux_x86_64" in plats
    assert not any("musllinux" in p or "macos" in p for p in plats)


def test_unsupported_python_and_used_folder_are_refused(tmp_path):
    with pytest.raises(bundle.BundleError, match="3.11 and 3.12"):
        bundle.make_bundle("3.13", tmp_path / "b")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("")
    with pytest.raises(bundle.BundleError, match="not empty"):
        bundle.make_bundle(HERE, tmp_path / "used")


def _tarball(path: Path, version: str) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        data = f"{version}\n".encode()
        info = tarfile.TarInfo("genn/version.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return path


def test_genn_tarball_must_be_genn_4_9_0(tmp_path):
    bundle.check_genn_tarball(_tarball(tmp_path / "ok.tar.gz", "4.9.0"))
    with pytest.raises(bundle.BundleError, match="found 5.1.0"):
        bundle.check_genn_tarball(_tarball(tmp_path / "new.tar.gz", "5.1.0"))
    (tmp_path / "junk.tar.gz").write_text("no tarball")
    with pytest.raises(bundle.BundleError, match="not a readable tarball"):
        bundle.check_genn_tarball(tmp_path / "junk.tar.gz")


def _wheel(folder: Path, name: str, requires_python: str | None) -> None:
    import zipfile

    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
    if requires_python:
        meta += f"Requires-Python: {requires_python}\n"
    with zipfile.ZipFile(folder / f"{name}-1.0-py3-none-any.whl", "w") as zf:
        zf.writestr(f"{name}-1.0.dist-info/METADATA", meta + "\nA description: >=9.9\n")


def test_min_patch_is_what_the_pickiest_wheel_asks(tmp_path):
    _wheel(tmp_path, "plain", ">=3.9")
    _wheel(tmp_path, "none", None)
    assert bundle.min_patch("3.11", tmp_path) == (0, [])
    _wheel(tmp_path, "picky", ">=3.11.5")  # soupsieve 4.1.3 asks this
    assert bundle.min_patch("3.11", tmp_path) == (5, ["picky-1.0-py3-none-any.whl"])
    _wheel(tmp_path, "newer", ">=3.12")
    with pytest.raises(bundle.BundleError, match="no Python 3.11.x"):
        bundle.min_patch("3.11", tmp_path)


def test_install_script_is_valid_bash():
    script = bundle.INSTALL_SH.replace("@PYVERSION@", "3.12").replace("@COMMIT@", "abc")
    script = script.replace("@MINPATCH@", "5").replace("@PICKY@", "x.whl")
    proc = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _no_network_prefix() -> list[str]:
    """``unshare -n`` (root) or ``unshare -rn`` (user namespaces) where this machine allows it."""
    for cmd in (["unshare", "-n"], ["unshare", "-rn"]):
        if shutil.which("unshare") and subprocess.run([*cmd, "true"]).returncode == 0:
            return cmd
    return []


@pytest.mark.slow
def test_bundle_installs_without_network(tmp_path):
    """A real bundle for this Python (wheels from PyPI), installed with the network cut (or, where
    namespaces are refused, with a dead index): the stack imports, and ./dev setup then finds
    nothing to do and no index to ask."""
    out = tmp_path / "bundle"
    made = subprocess.run(
        [sys.executable, "-m", "autograde.bundle", "--python", HERE, "--out", str(out)]
        + ["--no-bubblewrap"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    assert (out / "install.sh").is_file() and (out / "project.tar.gz").is_file()
    wheels = {p.name.split("-")[0].lower() for p in (out / "wheels").glob("*.whl")}
    assert {"brian2", "brian2genn", "nbgrader", "numpy", "pip", "setuptools"} <= wheels
    # the manifest names every file with its digest
    lines = (out / "MANIFEST.txt").read_text().splitlines()
    numpy = next(p for p in (out / "wheels").glob("numpy-*.whl"))
    digest = hashlib.sha256(numpy.read_bytes()).hexdigest()
    assert any(digest in line and numpy.name in line for line in lines)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "VIRTUAL_ENV"))}
    env["PIP_INDEX_URL"] = "http://127.0.0.1:9/simple"  # nothing listens: any index use fails
    prefix = tmp_path / "server"
    cut = _no_network_prefix()
    installed = subprocess.run(
        [
            *cut,
            "bash",
            str(out / "install.sh"),
            "--prefix",
            str(prefix),
            "--python",
            sys.executable,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "./dev demo" in installed.stdout and "./dev test" in installed.stdout
    py = prefix / ".venv" / "bin" / "python"
    probe = subprocess.run(
        [str(py), "-c", "import brian2, brian2genn, nbgrader, graders; print(brian2.__version__)"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert probe.stdout.strip() == "2.5.4", probe.stderr
    setup = subprocess.run(
        [*cut, str(prefix / "dev"), "setup"], capture_output=True, text=True, env=env, timeout=120
    )
    assert setup.returncode == 0, setup.stderr
    assert "installing" not in setup.stdout  # the stamp matches: pip is not run
    conf = subprocess.run(
        [str(py), "-m", "pip", "config", "list"], capture_output=True, text=True, env=env
    )
    assert "no-index='true'" in conf.stdout, conf.stdout
