"""Install GeNN 4.9.0 outside the repository, with the CUDA >= 13 fix, in one command.

``./dev genn`` runs this module::

    python -m autograde.genn_install [--from DIR_OR_TARBALL] [--prefix DIR] [--jobs N]
                                     [--cpu-only]

1. **Source.** Without ``--from``, GeNN 4.9.0's release tarball is downloaded from its public
   repository (:data:`GENN_URL`); with ``--from``, a local copy is used (a source folder or a
   ``.tar.gz``), for servers without internet. Its ``version.txt`` must say 4.9.0, the only GeNN
   line Brian2GeNN 1.7 supports.
2. **Fix.** GeNN 4.9.0's CUDA backend does not compile against CUDA 13, where ``cuCtxCreate``
   takes four arguments. Upstream fixed it in GeNN 5 only (genn-team/genn commit f58583416); the
   same three lines are applied here, to the installed copy, at install time (GeNN's code is never
   part of this repository). Applying it twice changes nothing; a file that holds neither the
   original line nor the fixed form is an error.
3. **Build.** ``make libgenn single_threaded_cpu`` plus ``cuda`` when a CUDA toolkit is found
   (:func:`graders.backends.cuda_path`; ``CUDA_PATH`` is passed to ``make``), with one job per
   core, into ``--prefix`` (default :func:`default_prefix`, outside the repository).
4. Prints the ``export GENN_PATH=...`` line to run.

Every failure is a :class:`InstallError` whose message says what was wrong and how to fix it;
the command prints it and exits 1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from graders import backends

GENN_VERSION = "4.9.0"
GENN_URL = f"https://github.com/genn-team/genn/archive/refs/tags/{GENN_VERSION}.tar.gz"
REPO = Path(__file__).resolve().parent.parent

# The CUDA >= 13 fix: upstream commit f58583416 (GeNN 5), the same lines in GeNN 4.9.0.
OPTIMISER = Path("src/genn/backends/cuda/optimiser.cc")
ORIGINAL = "CHECK_CU_ERRORS(cuCtxCreate(&cuContext, 0, cuDevice));"
CUDA13 = "CHECK_CU_ERRORS(cuCtxCreate(&cuContext, NULL, 0, cuDevice));"


class InstallError(RuntimeError):
    """GeNN could not be installed; the message says why and what to do."""


def default_prefix() -> Path:
    """``${XDG_DATA_HOME:-~/.local/share}/brian2genn-autograder/genn-4.9.0``."""
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data).expanduser() / "brian2genn-autograder" / f"genn-{GENN_VERSION}"


# --- the CUDA 13 fix ----------------------------------------------------------------------------


def patch_cuda13(text: str) -> tuple[str, bool]:
    """``text`` of ``optimiser.cc`` with the CUDA >= 13 fix, and whether it changed.

    Raises
    ------
    InstallError
        When the file holds neither the original call nor the fixed form (not GeNN 4.9.0's file).
    """
    lines = text.splitlines(keepends=True)
    if any(line.strip() == CUDA13 for line in lines):
        if not any(line.strip() == "#if CUDA_VERSION < 13000" for line in lines):
            raise InstallError(_not_genn_49(f"it calls {CUDA13!r} without a CUDA_VERSION guard"))
        return text, False  # already fixed
    hits = [i for i, line in enumerate(lines) if line.strip() == ORIGINAL]
    if len(hits) != 1:
        raise InstallError(_not_genn_49(f"found {len(hits)} lines {ORIGINAL!r}, expected 1"))
    i = hits[0]
    indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
    eol = "\r\n" if lines[i].endswith("\r\n") else "\n"
    fixed = [
        "#if CUDA_VERSION < 13000" + eol,
        lines[i] if lines[i].endswith(eol) else lines[i] + eol,
        "#else" + eol,
        indent + CUDA13 + eol,
        "#endif" + eol,
    ]
    return "".join(lines[:i] + fixed + lines[i + 1 :]), True


def _not_genn_49(detail: str) -> str:
    return (
        f"cannot apply the CUDA 13 fix to {OPTIMISER}: {detail}. This is not GeNN "
        f"{GENN_VERSION}'s CUDA backend; install from GeNN {GENN_VERSION}'s release tarball "
        f"({GENN_URL})."
    )


def apply_cuda13_fix(root: Path) -> bool:
    """Fix ``root``'s CUDA optimiser in place (atomically); True when it changed."""
    path = root / OPTIMISER
    try:
        text = path.read_text()
    except OSError as err:
        raise InstallError(_not_genn_49(f"cannot read it ({err.strerror})")) from None
    new, changed = patch_cuda13(text)
    if changed:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(new)
        os.replace(tmp, path)
    return changed


# --- the source ---------------------------------------------------------------------------------


def check_version(root: Path) -> None:
    """Raise unless ``root`` is GeNN 4.9.0's source tree."""
    try:
        version = (root / "version.txt").read_text().strip()
    except OSError:
        raise InstallError(
            f"{root} is not GeNN's source (no version.txt); pass GeNN {GENN_VERSION}'s source "
            f"folder or release tarball ({GENN_URL}) to --from"
        ) from None
    if version != GENN_VERSION:
        raise InstallError(
            f"{root} holds GeNN {version}; Brian2GeNN 1.7 needs GeNN {GENN_VERSION} "
            f"(get it from {GENN_URL})"
        )


def download(url: str, dest: Path, timeout: float = 60) -> Path:
    """Fetch ``url`` to ``dest``; an unreachable network is an error that says to use --from."""
    print(f"==> downloading {url}", flush=True)
    tmp = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
            shutil.copyfileobj(resp, out)
    except (urllib.error.URLError, OSError) as err:
        tmp.unlink(missing_ok=True)
        why = getattr(err, "reason", None) or err
        raise InstallError(
            f"could not download GeNN {GENN_VERSION} from {url} ({why}). On a server without "
            f"internet, fetch that file on another machine, copy it here and run "
            f"'./dev genn --from genn-{GENN_VERSION}.tar.gz' (a GeNN {GENN_VERSION} source "
            f"folder works too)."
        ) from None
    os.replace(tmp, dest)
    return dest


def _source_root(folder: Path) -> Path:
    """The GeNN tree in ``folder``: itself, or its only sub-folder (a release tarball's top)."""
    if (folder / "version.txt").is_file():
        return folder
    subs = [p for p in folder.iterdir() if p.is_dir()]
    if len(subs) == 1 and (subs[0] / "version.txt").is_file():
        return subs[0]
    return folder  # check_version names what is missing


def _skip_build_outputs(folder: str, names: list[str]) -> set[str]:
    # A source folder that was built before: leave its objects and libraries behind so that
    # this install builds everything itself (and with the fix).
    built = (".o", ".d", ".a", ".so")
    return {
        n
        for n in names
        if n == ".git" or (n.endswith(built) and os.path.isfile(os.path.join(folder, n)))
    }


def _safe_extract(tar: tarfile.TarFile, into: Path) -> None:
    """Unpack ``tar`` into ``into``, refusing members that would land outside it."""
    if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4
        tar.extractall(into, filter="data")
        return
    root = into.resolve()
    for member in tar.getmembers():
        target = (into / member.name).resolve()
        link = (target.parent / member.linkname).resolve() if member.issym() else target
        if member.islnk() or not all(p.is_relative_to(root) for p in (target, link)):
            raise tarfile.TarError(f"unsafe member {member.name!r}")
    tar.extractall(into)


def stage(source: Path, into: Path) -> Path:
    """Copy or unpack GeNN's source from ``source`` under ``into``; returns the tree's root."""
    if source.is_dir():
        root = _source_root(source)
        check_version(root)
        dest = into / f"genn-{GENN_VERSION}"
        shutil.copytree(root, dest, symlinks=True, ignore=_skip_build_outputs)
        return dest
    if source.is_file():
        try:
            with tarfile.open(source) as tar:
                _safe_extract(tar, into)
        except (tarfile.TarError, OSError) as err:
            raise InstallError(
                f"cannot unpack {source} ({err}); --from takes GeNN {GENN_VERSION}'s source "
                f"folder or its release tarball ({GENN_URL})"
            ) from None
        root = _source_root(into)
        check_version(root)
        return root
    raise InstallError(f"--from {source}: no such file or folder")


# --- the build ----------------------------------------------------------------------------------


def make_command(root: Path, jobs: int, cuda: Path | None) -> list[str]:
    """``make`` for the libraries Brian2GeNN needs, plus the CUDA backend when ``cuda``."""
    cmd = ["make", "-C", str(root), f"-j{jobs}", "libgenn", "single_threaded_cpu"]
    if cuda is not None:
        cmd += ["cuda", f"CUDA_PATH={cuda}"]
    return cmd


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def install(
    source: Path | None,
    prefix: Path,
    *,
    jobs: int | None = None,
    cuda: Path | None = None,
    url: str = GENN_URL,
) -> Path:
    """Install GeNN 4.9.0 into ``prefix`` and build it; returns ``prefix``.

    ``prefix`` either does not exist (the source is staged beside it, then moved in place) or
    already holds GeNN 4.9.0 from an earlier run (then it is fixed and built again: ``make`` only
    redoes what changed). ``cuda`` is CUDA's root, or None for GeNN's CPU backend only.
    """
    prefix = prefix.expanduser().absolute()
    if _inside(prefix, REPO):
        raise InstallError(
            f"--prefix {prefix} is inside this repository; GeNN's code and builds stay outside it "
            f"(default {default_prefix()})"
        )
    if prefix.exists() and not (prefix.is_dir() and not any(prefix.iterdir())):
        if not (prefix / "version.txt").is_file():
            raise InstallError(
                f"{prefix} exists and is not a GeNN install; choose an empty or new --prefix"
            )
        check_version(prefix)
        print(f"==> reusing the GeNN {GENN_VERSION} source in {prefix}", flush=True)
        if source is not None:
            print(f"    (--from {source} not used: delete {prefix} to install afresh)", flush=True)
    else:
        prefix.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=prefix.parent, prefix=".genn-stage-") as tmp:
            if source is None:
                source = download(url, Path(tmp) / f"genn-{GENN_VERSION}.tar.gz")
            print(f"==> staging GeNN {GENN_VERSION} from {source}", flush=True)
            unpacked = Path(tmp) / "src"
            unpacked.mkdir()
            root = stage(Path(source).expanduser(), unpacked)
            if prefix.is_dir():
                prefix.rmdir()  # empty, checked above
            os.replace(root, prefix)
    if apply_cuda13_fix(prefix):
        print(f"==> applied the CUDA >= 13 fix to {prefix / OPTIMISER}", flush=True)
    else:
        print(f"==> the CUDA >= 13 fix is already in {prefix / OPTIMISER}", flush=True)
    cmd = make_command(prefix, jobs or os.cpu_count() or 1, cuda)
    print("==> " + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd)
    except FileNotFoundError:
        raise InstallError(
            "'make' was not found; install a C++ toolchain (e.g. 'apt-get install build-essential')"
        ) from None
    took = time.perf_counter() - t0
    if done.returncode != 0:
        raise InstallError(
            f"building GeNN failed (make exited {done.returncode}; its output is above). "
            f"Re-run the same command after fixing the cause: the source in {prefix} is kept."
        )
    load = _loadavg()
    print(f"==> built in {took:.1f} s{f' (load average {load})' if load else ''}", flush=True)
    return prefix


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="./dev genn",
        description=(
            f"Install GeNN {GENN_VERSION} outside this repository (with the CUDA >= 13 fix) and "
            "build its CPU backend, plus its CUDA backend where CUDA is found."
        ),
    )
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        help=f"a GeNN {GENN_VERSION} source folder or release tarball (default: download "
        f"{GENN_URL})",
    )
    parser.add_argument(
        "--prefix",
        type=Path,
        default=None,
        help=f"where to install (default: {default_prefix()})",
    )
    parser.add_argument("--jobs", "-j", type=int, default=None, help="make jobs (default: cores)")
    parser.add_argument(
        "--cpu-only",
        action="store_true",
        help="build only GeNN's CPU backend, even where CUDA is found",
    )
    args = parser.parse_args(argv)
    prefix = args.prefix or default_prefix()
    cuda = None if args.cpu_only else backends.cuda_path()
    if cuda is None and not args.cpu_only:
        print(
            "==> no CUDA toolkit found (CUDA_PATH, /usr/local/cuda, or above nvcc, holding "
            "include/cuda.h): building GeNN's CPU backend only",
            flush=True,
        )
    elif cuda is not None:
        print(f"==> CUDA at {cuda}: building GeNN's CUDA backend too", flush=True)
    try:
        where = install(args.source, prefix, jobs=args.jobs, cuda=cuda)
    except InstallError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"\nGeNN {GENN_VERSION} is built in {where}. To use it, run:\n")
    print(f"  export GENN_PATH={where}")
    if cuda is not None and os.environ.get("CUDA_PATH") != str(cuda):
        print(f"  export CUDA_PATH={cuda}")
    print("\nthen 'autograde backends' shows what was found.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
