"""A folder that installs this project on a server without network: ``./dev bundle``.

Lab GPU servers and cluster nodes often cannot reach PyPI. ``./dev bundle --python 3.12`` runs
on a machine that can, and writes one folder to carry over::

    autograder-bundle-py3.12/
      install.sh          sets the server up from this folder only (no network)
      wheels/             the whole lock for that Python on manylinux x86_64, plus pip and the
                          build tools; brian2 built from its sdist where PyPI has no wheel
      project.tar.gz      this repository's committed tree (``git archive HEAD``)
      genn-4.9.0.tar.gz   GeNN's source, if given with --genn (for ``./dev genn --from``)
      debs/               Debian's bubblewrap package, if ``apt-get download`` works here
      MANIFEST.txt        every file with its size and sha256

``install.sh [--prefix DIR] [--python PATH]`` unpacks the project, makes its ``.venv`` with
that interpreter (bootstrapping pip from the bundle where the system Python has no ``venv``
module's pip, as on Ubuntu without ``python3-venv``), installs with ``pip --no-index
--find-links``, and leaves the venv configured so that later pip runs (``./dev setup``) never
look at an index either. Nothing here needs more than the standard library and ``packaging``.

Long because: one command, whose steps (wheels, project, GeNN, bubblewrap, the install script it
writes, the manifest) share their paths and options; nothing else imports it.

Imports inside functions: ``packaging`` and ``zipfile`` load only in the steps that read the lock
and the wheels.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUPPORTED = ("3.11", "3.12")
#: Wheel platforms a server may take, newest first: glibc 2.28 covers Ubuntu 20.04+, Debian 11+,
#: RHEL 8+. ``linux_x86_64`` admits the brian2 wheel built here (PyPI holds no such wheels).
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux_2_5_x86_64",
    "manylinux1_x86_64",
    "linux_x86_64",
)
BRIAN2 = "Brian2==2.5.4"
#: What building brian2 2.5.4's Cython extension needs (its pyproject asks for setuptools_scm
#: too); numpy and Cython are taken at the lock's versions, setuptools below 81 (brian2genn
#: imports pkg_resources, which 81 removes).
BRIAN2_BUILD = ("wheel", "setuptools_scm[toml]>=6.2")
#: pip itself (a venv made ``--without-pip`` is bootstrapped from its wheel) and what
#: ``pyproject.toml``'s build-system needs for ``pip install -e .`` without an index.
TOOLS = ("pip", "setuptools>=68,<81", "wheel")
#: The highest patch release assumed when resolving (see :func:`min_patch`).
MAX_PATCH = 99
#: The issue's target for one bundle (a USB stick, a scp over a slow link).
TARGET_MB = 60
GENN_VERSION = "4.9.0"


class BundleError(RuntimeError):
    """The bundle cannot be made; the message says what was wrong and how to fix it."""


# --- what to download -------------------------------------------------------------------------


def target_constraints(text: str, version: str) -> list[str]:
    """``constraints.txt``'s pins that apply to Python ``version`` (markers evaluated for it).

    ``pip download --python-version`` evaluates a requirement's markers for the interpreter
    that runs pip, not for the target, so the bundle resolves them itself.
    """
    from packaging.requirements import Requirement

    env = {"python_version": version, "python_full_version": f"{version}.0"}
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(env):
            req.marker = None
            out.append(str(req))
    return out


def project_requirements(pyproject: Path, extras: tuple[str, ...] = ("test",)) -> list[str]:
    """The project's dependencies and the named optional ones, from ``pyproject.toml``."""
    project = tomllib.loads(pyproject.read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project.get("optional-dependencies", {}).get(extra, [])
    return reqs


def platform_args(version: str) -> list[str]:
    """``pip download`` options that select CPython ``version`` wheels for manylinux x86_64."""
    abi = "cp" + version.replace(".", "")
    # "3.11" alone means 3.11.0 to pip, which refuses wheels that want a later patch release
    # (soupsieve 4.1.3: >=3.11.5); the patch the bundle needs is checked by install.sh instead
    full = f"{version}.{MAX_PATCH}"
    args = ["--only-binary", ":all:", "--python-version", full, "--implementation", "cp"]
    args += ["--abi", abi, "--abi", "abi3", "--abi", "none"]
    for p in PLATFORMS:
        args += ["--platform", p]
    return args


def _pip_env() -> dict:
    """The environment for pip here: PyPI only, not this machine's own mirrors or wheel dirs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    for key in ("PIP_CERT", "PIP_DEFAULT_TIMEOUT"):  # transport settings are fine to keep
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def _run(cmd: list[str], what: str, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=kw.pop("env", _pip_env()), **kw)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise BundleError(f"{what} failed ({' '.join(cmd[:6])} ...):\n{tail}")
    return proc


def find_interpreter(version: str, given: str | None = None) -> str | None:
    """A Python ``version`` interpreter: ``given``, ``pythonX.Y`` on PATH, or a pyenv one."""
    candidates = [given] if given else []
    if not given:
        candidates += [shutil.which(f"python{version}") or ""]
        pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
        candidates += sorted(str(p) for p in pyenv.glob(f"{version}.*/bin/python{version}"))
    for c in candidates:
        if not c:
            continue
        try:
            out = subprocess.run(
                [c, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and out.stdout.strip() == version:
            return c
    return None


def brian2_wheel(version: str, wheels: Path, pins: list[str], build_python: str | None) -> str:
    """Put a brian2 2.5.4 wheel for ``version`` into ``wheels``: PyPI's, else built here.

    Returns "downloaded" or "built with <interpreter>".
    """
    pip = [sys.executable, "-m", "pip"]
    got = subprocess.run(
        [*pip, "download", "-q", "--no-deps", "-d", str(wheels), *platform_args(version), BRIAN2],
        capture_output=True,
        text=True,
        env=_pip_env(),
    )
    if got.returncode == 0:
        return "downloaded"
    py = find_interpreter(version, build_python)
    if py is None:
        raise BundleError(
            f"PyPI has no brian2 2.5.4 wheel for Python {version}, so it is built from its sdist, "
            f"which needs a Python {version} interpreter here; none was found (python{version} on "
            f"PATH, pyenv). Install one or pass --build-python /path/to/python{version}."
        )
    pinned = {p.split("==")[0].lower(): p for p in pins if "==" in p}
    build = [pinned.get("numpy", "numpy<2"), pinned.get("cython", "cython<3.1")]
    build += [pinned.get("setuptools", "setuptools<81"), *BRIAN2_BUILD]
    with tempfile.TemporaryDirectory(prefix="brian2-build-") as tmp:
        venv = Path(tmp) / "venv"
        _run([py, "-m", "venv", str(venv)], f"making a Python {version} venv to build brian2")
        vpy = str(venv / "bin" / "python")
        # the build tools at the lock's versions (numpy 1.26.4, Cython 3.0.x): the extension
        # is compiled against the numpy the server will run
        _run([vpy, "-m", "pip", "install", "-q", *build], "installing brian2's build tools")
        _run(
            [vpy, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", "brian2"]
            + ["-d", tmp, BRIAN2],
            "downloading brian2's sdist",
        )
        sdist = next(Path(tmp).glob("[Bb]rian2-*.tar.gz"))
        _run(
            [vpy, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
            + ["-w", str(wheels), str(sdist)],
            f"building brian2 2.5.4 from its sdist with Python {version}",
        )
    return f"built with {py}"


def download(version: str, wheels: Path, reqs: list[str], pins: list[str]) -> None:
    """Every wheel the project needs on Python ``version`` (resolved within the lock)."""
    with tempfile.TemporaryDirectory(prefix="bundle-req-") as tmp:
        req, con = Path(tmp) / "req.txt", Path(tmp) / "con.txt"
        req.write_text("\n".join(reqs) + "\n")
        con.write_text("\n".join(pins) + "\n")
        pip = [sys.executable, "-m", "pip", "download", "-q", "-d", str(wheels)]
        _run(
            [*pip, *platform_args(version), "--find-links", str(wheels), "-c", str(con)]
            + ["-r", str(req)],
            f"downloading the lock's wheels for Python {version}",
        )
        # pip and the build backend are not part of the lock (a venv brings its own)
        _run([*pip, *platform_args(version), *TOOLS], "downloading pip, setuptools and wheel")


def min_patch(version: str, wheels: Path) -> tuple[int, list[str]]:
    """The lowest patch release of Python ``version`` that every wheel's ``Requires-Python``
    admits, and the wheels that ask for more than ``version.0``."""
    import zipfile

    from packaging.specifiers import SpecifierSet

    wants: dict[str, SpecifierSet] = {}
    for whl in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(whl) as zf:
            meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
            for line in zf.read(meta).decode("utf-8", "replace").splitlines():
                if line.lower().startswith("requires-python:"):
                    wants[whl.name] = SpecifierSet(line.split(":", 1)[1].strip())
                    break
                if not line.strip():
                    break
    for patch in range(MAX_PATCH + 1):
        full = f"{version}.{patch}"
        if all(spec.contains(full) for spec in wants.values()):
            picky = [n for n, spec in wants.items() if not spec.contains(f"{version}.0")]
            return patch, picky
    raise BundleError(f"no Python {version}.x satisfies every wheel's Requires-Python")


def git_archive(out: Path) -> str:
    """This repository's committed tree as ``project.tar.gz``; returns the commit."""
    commit = _run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], "git rev-parse", env=None
    ).stdout.strip()
    _run(
        ["git", "-C", str(REPO), "archive", "--format=tar.gz", "--prefix=brian2genn-autograder/"]
        + ["-o", str(out), "HEAD"],
        "git archive",
        env=None,
    )
    return commit


def check_genn_tarball(path: Path) -> None:
    """Refuse anything but a GeNN 4.9.0 source tarball (its ``version.txt`` says so)."""
    try:
        with tarfile.open(path) as tf:
            names = [m for m in tf.getmembers() if m.name.rstrip("/").endswith("version.txt")]
            top = min(names, key=lambda m: m.name.count("/"), default=None)
            text = tf.extractfile(top).read().decode().strip() if top else ""
    except (OSError, tarfile.TarError) as err:
        raise BundleError(f"--genn {path}: not a readable tarball ({err})") from None
    if text != GENN_VERSION:
        raise BundleError(
            f"--genn {path}: expected GeNN {GENN_VERSION}'s source (its version.txt), found "
            f"{text or 'no version.txt'}; make one with 'git clone --branch {GENN_VERSION} "
            f"https://github.com/genn-team/genn.git && tar czf genn-{GENN_VERSION}.tar.gz genn'"
        )


def bubblewrap_deb(debs: Path) -> str:
    """Debian's bubblewrap package (the kernels' sandbox) via ``apt-get download``, or why not."""
    if shutil.which("apt-get") is None:
        return "not included: no apt-get here"
    debs.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["apt-get", "download", "-q", "bubblewrap"], cwd=debs, capture_output=True, text=True
    )
    got = sorted(debs.glob("bubblewrap_*.deb"))
    if proc.returncode != 0 or not got:
        shutil.rmtree(debs, ignore_errors=True)
        why = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        return f"not included: apt-get download bubblewrap failed ({why[0]})"
    return got[0].name


# --- the folder -------------------------------------------------------------------------------


def manifest(root: Path) -> tuple[str, int, list[tuple[int, str]]]:
    """MANIFEST.txt's text, the total size and the files by size (largest first)."""
    rows = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != "MANIFEST.txt":
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
            rows.append((p.stat().st_size, str(p.relative_to(root)), digest))
    total = sum(r[0] for r in rows)
    text = "".join(f"{size:>11}  {digest}  {name}\n" for size, name, digest in rows)
    return text + f"{total:>11}  total\n", total, sorted(((s, n) for s, n, _ in rows), reverse=True)


def make_bundle(
    version: str,
    out: Path,
    *,
    genn: Path | None = None,
    bubblewrap: bool = True,
    build_python: str | None = None,
) -> dict:
    """Write the bundle for Python ``version`` into ``out`` (which must not exist or be empty).

    Returns what went in: ``{"version", "commit", "brian2", "genn", "bubblewrap", "bytes",
    "largest"}``.
    """
    if version not in SUPPORTED:
        raise BundleError(
            f"--python {version}: this project supports Python {' and '.join(SUPPORTED)} "
            "(brian2genn pins brian2 < 2.6, which needs numpy < 2; 3.13 is out of reach)"
        )
    if out.exists() and any(out.iterdir()):
        raise BundleError(f"{out} exists and is not empty; pass another --out or remove it")
    if genn is not None:
        check_genn_tarball(genn)
    staging = out.with_name(out.name + ".part")
    shutil.rmtree(staging, ignore_errors=True)
    wheels = staging / "wheels"
    wheels.mkdir(parents=True)
    pins = target_constraints((REPO / "constraints.txt").read_text(), version)
    info: dict = {"version": version}
    info["brian2"] = brian2_wheel(version, wheels, pins, build_python)
    download(version, wheels, project_requirements(REPO / "pyproject.toml"), pins)
    patch, picky = min_patch(version, wheels)
    info["min_python"] = f"{version}.{patch}"
    info["min_python_why"] = picky
    info["commit"] = git_archive(staging / "project.tar.gz")
    info["genn"] = None
    if genn is not None:
        shutil.copyfile(genn, staging / f"genn-{GENN_VERSION}.tar.gz")
        info["genn"] = f"genn-{GENN_VERSION}.tar.gz"
    info["bubblewrap"] = bubblewrap_deb(staging / "debs") if bubblewrap else "not included"
    script = staging / "install.sh"
    text = INSTALL_SH.replace("@PYVERSION@", version).replace("@COMMIT@", info["commit"])
    text = text.replace("@MINPATCH@", str(patch)).replace("@PICKY@", " ".join(picky) or "-")
    script.write_text(text)
    script.chmod(0o755)
    text, total, largest = manifest(staging)
    (staging / "MANIFEST.txt").write_text(text)
    if out.exists():
        out.rmdir()
    os.replace(staging, out)  # the folder appears whole, or not at all
    info["bytes"] = total
    info["largest"] = largest[:12]
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="./dev bundle", description=__doc__.split("\n\n")[0])
    p.add_argument("--python", default="3.12", choices=SUPPORTED, help="the server's Python")
    p.add_argument("--out", default=None, help="folder to write (default autograder-bundle-pyX.Y)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--genn", default=None, metavar="TARBALL", help="GeNN 4.9.0 source tarball")
    g.add_argument("--no-genn", action="store_true", help="no GeNN source (the default)")
    p.add_argument(
        "--no-bubblewrap", action="store_true", help="leave Debian's bubblewrap package out"
    )
    p.add_argument(
        "--build-python",
        default=None,
        metavar="PATH",
        help="a Python of that version to build brian2 from its sdist (default: found on PATH)",
    )
    args = p.parse_args(argv)
    out = Path(args.out or f"autograder-bundle-py{args.python}").resolve()
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if dirty:
        print("warning: uncommitted changes are not bundled (git archive HEAD)", file=sys.stderr)
    print(f"==> bundling for Python {args.python} into {out}", flush=True)
    try:
        info = make_bundle(
            args.python,
            out,
            genn=Path(args.genn).resolve() if args.genn else None,
            bubblewrap=not args.no_bubblewrap,
            build_python=args.build_python,
        )
    except BundleError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    mb = info["bytes"] / 1e6
    n = len(list((out / "wheels").glob("*.whl")))
    print(f"brian2 2.5.4: {info['brian2']}")
    print(f"project: commit {info['commit']}; GeNN source: {info['genn'] or 'not included'}")
    print(f"bubblewrap: {info['bubblewrap']}")
    why = ", ".join(info["min_python_why"]) or "every wheel takes x.0"
    print(f"server Python: {info['min_python']} or later {args.python}.x ({why})")
    print(f"{n} wheels; total {mb:.1f} MB (target {TARGET_MB} MB). Largest:")
    for size, name in info["largest"]:
        print(f"  {size / 1e6:6.1f} MB  {name}")
    if mb > TARGET_MB:
        print(f"note: {mb:.1f} MB is over the {TARGET_MB} MB target", file=sys.stderr)
    print(f"\nCopy {out} to the server, then run: {out.name}/install.sh [--prefix DIR]")
    return 0


INSTALL_SH = r"""#!/usr/bin/env bash
# Install the Brian2GeNN course autograder from this folder only: no network is used.
#   ./install.sh [--prefix DIR] [--python PATH]
# --prefix  where the project goes (default ./brian2genn-autograder); its .venv is made there
# --python  the interpreter to make the venv with (default python@PYVERSION@ or python3 @PYVERSION@)
# Bundle made for Python @PYVERSION@ from commit @COMMIT@.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
WANT=@PYVERSION@
PREFIX=$PWD/brian2genn-autograder
PYTHON=
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX=$2; shift 2 ;;
    --python) PYTHON=$2; shift 2 ;;
    -h|--help) sed -n 2,6p "$0"; exit 0 ;;
    *) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }
if [ -z "$PYTHON" ]; then
  for py in "python$WANT" python3 python; do
    if command -v "$py" >/dev/null 2>&1 && [ "$(version_of "$py")" = "$WANT" ]; then
      PYTHON=$(command -v "$py"); break
    fi
  done
  if [ -z "$PYTHON" ]; then
    echo "error: no Python $WANT found; this bundle's wheels are for $WANT." >&2
    echo "Pass one with --python /path/to/python$WANT, or make a bundle for the server's" >&2
    echo "Python with './dev bundle --python X.Y' on a machine with network." >&2
    exit 1
  fi
elif [ "$(version_of "$PYTHON")" != "$WANT" ]; then
  echo "error: $PYTHON is Python $(version_of "$PYTHON"), this bundle is for $WANT." >&2
  exit 1
fi
# some wheels ask for a later patch release than $WANT.0 (@PICKY@)
if ! "$PYTHON" -c "import sys; sys.exit(sys.version_info[2] < @MINPATCH@)"; then
  echo "error: $PYTHON is $("$PYTHON" -V 2>&1); this bundle needs $WANT.@MINPATCH@ or later" >&2
  echo "(wheels that ask for it: @PICKY@). Use a newer $WANT.x with --python PATH." >&2
  exit 1
fi
mkdir -p "$PREFIX"
PREFIX=$(cd "$PREFIX" && pwd)
if [ -e "$PREFIX/dev" ]; then
  echo "==> $PREFIX already holds the project; keeping it"
else
  echo "==> unpacking the project into $PREFIX"
  tar xzf "$HERE/project.tar.gz" -C "$PREFIX" --strip-components=1
fi
VENV=$PREFIX/.venv
# pip must never look at an index: not here, not in './dev setup' later
export PIP_NO_INDEX=1 PIP_FIND_LINKS="$HERE/wheels" PIP_CONFIG_FILE=/dev/null
export PIP_DISABLE_PIP_VERSION_CHECK=1
unset PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_CONSTRAINT 2>/dev/null || true
if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV with $PYTHON"
  if ! "$PYTHON" -m venv "$VENV" >/dev/null 2>&1; then
    # e.g. Ubuntu without python3-venv: no ensurepip. Bootstrap pip from its wheel.
    rm -rf "$VENV"
    "$PYTHON" -m venv --without-pip "$VENV"
    PIPWHL=$(ls "$HERE"/wheels/pip-*.whl | head -n1)
    "$VENV/bin/python" "$PIPWHL/pip" install -q --no-index --find-links "$HERE/wheels" pip
  fi
fi
# the venv's own pip.conf (read by every pip run from it): the bundle, no index
cat >"$VENV/pip.conf" <<EOF
[global]
no-index = true
find-links = $HERE/wheels
disable-pip-version-check = true
EOF
echo "==> installing the pinned stack from $HERE/wheels"
"$VENV/bin/python" -m pip install -q --no-index --find-links "$HERE/wheels" pip
"$VENV/bin/python" -m pip install -q --no-index --find-links "$HERE/wheels" \
  -c "$PREFIX/constraints.txt" -e "$PREFIX[test]"
# ./dev setup skips pip when this stamp matches, and apt-get when .offline exists
(cd "$PREFIX" && cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1) >"$VENV/.installed"
echo "$HERE" >"$VENV/.offline"
PYTHONWARNINGS=ignore "$VENV/bin/python" -c "import brian2, brian2genn, nbgrader, numpy, graders
print('==> installed: brian2', brian2.__version__, '| brian2genn', brian2genn.__version__,
      '| nbgrader', nbgrader.__version__, '| numpy', numpy.__version__)"
if ! command -v bwrap >/dev/null 2>&1; then
  DEB=$(ls "$HERE"/debs/bubblewrap_*.deb 2>/dev/null | head -n1 || true)
  if [ -n "$DEB" ] && [ "$(id -u)" = 0 ] && command -v dpkg >/dev/null 2>&1; then
    echo "==> installing bubblewrap from $DEB"
    dpkg -i "$DEB" >/dev/null || echo "warning: dpkg -i $DEB failed; install bubblewrap by hand" >&2
  elif [ -n "$DEB" ]; then
    echo "warning: bubblewrap (the student sandbox) is missing: sudo dpkg -i $DEB" >&2
  else
    echo "warning: bubblewrap (the student sandbox) is missing; install it before grading" >&2
  fi
fi
echo
echo "Done. Next:"
echo "  cd $PREFIX"
if [ -f "$HERE/genn-4.9.0.tar.gz" ]; then
  echo "  ./dev genn --from $HERE/genn-4.9.0.tar.gz  # builds GeNN (+CUDA), prints GENN_PATH"
  echo "  export GENN_PATH=...                        # the path it printed"
fi
echo "  ./dev demo    # grade a sample class end to end on the best backend"
echo "  ./dev test    # lint and run the test suite"
echo "  ./dev gpu-check   # on a GPU server: CUDA tests, banks and class benchmark in one table"
"""


if __name__ == "__main__":
    sys.exit(main())
