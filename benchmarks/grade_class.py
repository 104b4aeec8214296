"""Grade a synthetic class twice: plain sequential nbgrader versus ``autograde grade``.

For every assignment a class of ``-n`` submissions is written (most right, among them identical
copies, answers that differ only in layout and textually different equivalent answers; some
wrong; a few broken: untouched, invalid, a kernel that dies). The class is graded

(a) *baseline*: what a course would run without this project. A copy of the course whose hidden
    test cells call ``graders.check(assignment, spec, backend, use_cache=False)`` inside the
    student's kernel, so every hidden cell builds and runs its own simulation, graded by one
    sequential ``nbgrader autograde`` (no trusted step, no parallelism, no result cache, no
    ccache);
(b) *pipeline*: ``autograde grade`` as shipped (parallel workers with one nbgrader process each,
    sandboxed kernels, trusted verdicts, one build per distinct answer, result cache, ccache where
    installed, batch builds per ``--batch``, feedback), then
(c) *regrade*: ``autograde grade --force`` of the same class again.

For each it reports wall time, seconds per submission, peak memory of the whole process tree
(sampled), builds performed and cache hits (every process appends to one stats file, see
``graders.settings.STATS_ENV``), and the speed-ups (a)/(b) and (a)/(c)::

    python benchmarks/grade_class.py --backend cpp_standalone -n 8 --jobs 2 --out bench.json

(a) costs about 45 s per submission on C++ standalone here: ``--baseline-only`` measures it once
and ``--baseline-from`` reuses that record for later runs of (b) on the same class.
Timings depend on the machine's load; the record notes the load average before and after each
phase and its mean while the phase ran, and the commit it ran.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from autograde.course import STATUS_DIR
from autograde.jobs import StudentStatus
from graders import assignments
from graders.notebook import cell_check

REPO = Path(__file__).resolve().parent.parent
BANK = REPO / "tests" / "bank"
SOLUTION_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
# The registry's assignments that have a bank of answers to make a class from (tests/bank/<name>),
# and the fields a student's answer cell defines for each (its required ones; "method" is added
# where the spec has one).
ASSIGNMENTS = tuple(a for a in assignments.names() if (BANK / a).is_dir())
FIELDS = {a: tuple(f.name for f in assignments.get(a).fields if f.required) for a in ASSIGNMENTS}

# The order of the class repeats every ten students, so that even a small -n has every kind.
PATTERN = (
    "right",
    "wrong",
    "right_layout",
    "broken",
    "right_variant",
    "right",
    "wrong",
    "right",
    "right_layout",
    "right_variant",
)
BROKEN = ("empty", "invalid", "crashing")


# --- the class ----------------------------------------------------------------------------------


def _bank(assignment: str, prefix: str) -> list[dict]:
    return [
        json.loads(p.read_text())["spec"]
        for p in sorted((BANK / assignment).glob(f"{prefix}_*.json"))
    ]


def answer_code(assignment: str, spec: dict) -> str:
    """Python source that defines the spec's fields as a student would type them."""
    lines = []
    if "method" in spec:
        lines.append(f"method = {spec['method']!r}")
    for name in FIELDS[assignment]:
        text = spec.get(name, "")
        if "\n" in text:
            lines.append(f"{name} = '''\n{text}\n'''")
        else:
            lines.append(f"{name} = {text!r}")
    return "\n".join(lines) + "\n"


def layout_variant(code: str, k: int) -> str:
    """The same answer typed differently: indentation, spaces, blank lines and comments."""
    out, inside = [], False
    for line in code.splitlines():
        if not inside and line.endswith("'''"):
            inside = True
            out += [line, "" if k % 2 else "    # my answer"]
        elif inside and line == "'''":
            inside = False
            out.append(line)
        elif inside and k % 2:
            out.append(line.replace(" = ", "=").replace(" : ", ":").replace(" += ", "  +=  "))
        elif inside:
            out.append(f"  {line}   # ok")
        elif not line.startswith("method") and line.endswith("'"):
            name, _, text = line.partition(" = ")
            # (not ' v > vth ': Brian refuses a condition that starts with a space)
            text = text[1:-1].replace(" > ", ">" if k % 2 else "  >  ")
            out.append(f"{name} = '{text}'")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def class_of(assignment: str, n: int) -> list[tuple[str, str, str | None]]:
    """``n`` students as (name, kind, answer cell body or None for an untouched notebook)."""
    right = _bank(assignment, "right")
    canonical = answer_code(assignment, right[0])
    others = [answer_code(assignment, s) for s in right[1:]] or [canonical]
    wrong = [answer_code(assignment, s) for s in _bank(assignment, "wrong")]
    invalid = [answer_code(assignment, s) for s in _bank(assignment, "invalid")]
    counters: dict[str, int] = {}
    out = []
    for i in range(n):
        kind = PATTERN[i % len(PATTERN)]
        k = counters[kind] = counters.get(kind, -1) + 1
        if kind == "right":
            body = canonical
        elif kind == "right_layout":
            body = layout_variant(canonical, k)
        elif kind == "right_variant":
            body = others[k % len(others)]
        elif kind == "wrong":
            body = wrong[k % len(wrong)]
        else:
            kind = BROKEN[k % len(BROKEN)]
            body = {
                "empty": None,
                "invalid": invalid[k % len(invalid)] if invalid else "model = 1/0\n",
                "crashing": "import os\nos._exit(1)\n",
            }[kind]
        out.append((f"s{i:03d}_{kind}", kind, body))
    return out


def submission(released: dict, body: str | None) -> dict:
    nb = json.loads(json.dumps(released))
    if body is None:
        return nb
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if SOLUTION_STUB in src:
            cell["source"] = src.replace(SOLUTION_STUB, body)
            return nb
    raise ValueError("no solution region in the released notebook")


# --- the baseline's source notebook -------------------------------------------------------------

BASELINE_CELL = """\
### BEGIN HIDDEN TESTS
import graders
_spec = {{k: v for k, v in dict({fields}).items() if v is not None}}
try:
    _verdict = graders.check({assignment!r}, _spec, {backend!r}, use_cache=False)
except graders.SpecError as _err:
    raise AssertionError("your answer cannot be graded: " + str(_err)) from None
_result = _verdict.check({check!r})
print(_result.message)
assert _result.fraction > 0, _result.message
_result.points
### END HIDDEN TESTS"""


def baseline_source(nb: dict, backend: str) -> dict:
    """``nb`` with every ``hidden_check(...)`` cell replaced by an in-kernel build of its own."""
    nb = json.loads(json.dumps(nb))
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if "BEGIN HIDDEN TESTS" not in src or "hidden_check(" not in src:
            continue
        call = cell_check(src)  # the protocol's one reader; fields passed as plain names
        if call is None:
            raise ValueError(f"a hidden cell without a readable hidden_check call:\n{src}")
        assignment, check = call.assignment, call.check
        fields = ", ".join(f"{field}={name}" for field, name in call.fields.items())
        head = src[: src.index("### BEGIN HIDDEN TESTS")]
        cell["source"] = head + BASELINE_CELL.format(
            fields=fields, assignment=assignment, backend=backend, check=check
        )
    return nb


def make_course(root: Path, assignment: str, klass, backend: str, baseline: bool) -> None:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    src = REPO / "source" / assignment
    shutil.copytree(src, root / "source" / assignment, dirs_exist_ok=True)
    if baseline:
        path = root / "source" / assignment / f"{assignment}.ipynb"
        path.write_text(json.dumps(baseline_source(json.loads(path.read_text()), backend)))
    released = json.loads((REPO / "release" / assignment / f"{assignment}.ipynb").read_text())
    for student, _kind, body in klass:
        folder = root / "submitted" / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        # every student's notebook differs (as real ones do), not only in the answer
        nb = submission(released, None if body is None else f"# {student}\n{body}")
        (folder / f"{assignment}.ipynb").write_text(json.dumps(nb, indent=1))
        (folder / "timestamp.txt").write_text("2025-01-01 12:00:00.000000 UTC")
    with tempfile.TemporaryDirectory() as tmp:  # record the assignment in the gradebook
        run(
            [
                sys.executable,
                "-m",
                "nbgrader",
                "generate_assignment",
                assignment,
                "--force",
                f"--CourseDirectory.release_directory={tmp}",
            ],
            root,
            _env(),
            check=True,
        )


# --- measuring ----------------------------------------------------------------------------------


def _env(**extra) -> dict:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def run(cmd: list[str], cwd: Path, env: dict, check: bool = False) -> dict:
    """Run ``cmd``; wall time, peak RSS of its whole process tree (sampled), exit status."""
    import psutil

    commit = _commit()  # the code it runs; recorded at the start, the tree may change meanwhile
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    peak = [0]
    loads: list[float] = []
    done = threading.Event()

    def sample():
        try:
            top = psutil.Process(proc.pid)
        except psutil.Error:
            return
        while not done.is_set():
            total = 0
            try:
                procs = [top, *top.children(recursive=True)]
            except psutil.Error:
                break
            for p in procs:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            peak[0] = max(peak[0], total)
            loads.append(os.getloadavg()[0])
            done.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - t0
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-4000:]}")
    return {
        "wall_s": wall,
        "peak_rss_mb": peak[0] / 2**20,
        "rc": proc.returncode,
        "log": out,
        "load_mean": sum(loads) / len(loads) if loads else None,
        "commit": commit,
    }


def count_stats(path: Path) -> dict:
    """Builds, simulation-cache hits and whole-submission cache hits, from every process."""
    events = []
    if path.is_file():
        events = [json.loads(line).get("event") for line in path.read_text().splitlines()]
    return {
        "builds": events.count("build"),
        "cache_hits": events.count("hit"),
        "submission_cache_hits": events.count("submission_hit"),
        "batch_builds": events.count("batch_build"),
    }


def baseline_scores(course: Path, assignment: str) -> dict:
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for sub in gb.assignment_submissions(assignment):
            out[sub.student.id] = float(sub.score)
    return out


def pipeline_scores(course: Path, assignment: str) -> dict:
    out = {}
    for p in sorted((course / STATUS_DIR / assignment).glob("*.json")):
        st = StudentStatus.from_dict(json.loads(p.read_text()))
        out[st.student] = float(st.score) if st.ok else None
    return out


def phase(name: str, runs: list[dict], stats: Path, n: int) -> dict:
    wall = sum(r["wall_s"] for r in runs)
    rec = {
        "wall_s": round(wall, 2),
        "s_per_submission": round(wall / max(1, n), 2),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
        "submissions": n,
        **count_stats(stats),
        # the 1-minute load average sampled while it ran: more than the cpu count means contention
        "load_mean": _mean([r["load_mean"] for r in runs if r.get("load_mean") is not None]),
        "commit": sorted({r.get("commit") or "?" for r in runs}),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    print(
        f"{name:<9} wall {rec['wall_s']:8.1f} s  {rec['s_per_submission']:6.2f} s/submission  "
        f"peak {rec['peak_rss_mb']:7.0f} MB  builds {rec['builds']:4d}  "
        f"cache hits {rec['cache_hits']:4d} (+{rec['submission_cache_hits']} whole submissions)  "
        f"batch builds {rec['batch_builds']}",
        flush=True,
    )
    return rec


def _mean(xs: list[float]) -> float | None:
    return round(sum(xs) / len(xs), 2) if xs else None


def _commit() -> str | None:
    proc = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return proc.stdout.strip() or None


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def reuse_baseline(record: dict, path: Path) -> None:
    """Copy (a) and its scores from an earlier record of the very same class into ``record``."""
    old = json.loads(path.read_text())
    if "baseline" not in old:
        raise SystemExit(f"{path} has no baseline figures; run with --baseline-only first")
    for key in ("backend", "n", "assignments", "class"):
        if old.get(key) != record.get(key):
            raise SystemExit(
                f"{path} measured another class ({key}: {old.get(key)!r}, here {record.get(key)!r})"
            )
    record["baseline"] = dict(old["baseline"], reused_from=str(path))
    record["machine"]["baseline_load"] = old["machine"].get("load_before")
    for a, sc in old["scores"].items():
        if "baseline" in sc:
            record["scores"].setdefault(a, {})["baseline"] = sc["baseline"]


# --- main ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", default="cpp_standalone", help="simulation backend")
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, help="(b) workers")
    p.add_argument("-n", type=int, default=40, help="submissions per assignment (default 40)")
    p.add_argument(
        "--assignments", nargs="+", choices=ASSIGNMENTS, default=list(ASSIGNMENTS), metavar="A"
    )
    p.add_argument("--out", default=None, help="write the figures to this JSON file")
    p.add_argument("--skip-baseline", action="store_true", help="only (b) and the regrade")
    p.add_argument("--baseline-only", action="store_true", help="only (a)")
    p.add_argument(
        "--baseline-from",
        default=None,
        metavar="JSON",
        help="take (a) from a record this script wrote for the same class, backend and -n "
        "(the baseline takes about 45 s per submission: an hour at -n 40)",
    )
    p.add_argument("--workdir", default=None, help="scratch folder (default: a new temp one)")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder")
    p.add_argument(
        "--no-sandbox", action="store_true", help="(b) without bubblewrap (like the baseline)"
    )
    p.add_argument("--no-feedback", action="store_true", help="(b) without the feedback HTML")
    p.add_argument(
        "--no-regrade", action="store_true", help="only (b), not the --force regrade after it"
    )
    p.add_argument(
        "--batch", choices=("auto", "on", "off"), default="auto", help="(b)'s --batch option"
    )
    p.add_argument(
        "--no-submission-cache",
        action="store_true",
        help="(b) runs every notebook again on the regrade (only the simulation cache)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from graders import backends, settings

    backend = backends.choose(args.backend)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="grade-class-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    record: dict = {
        "backend": backend,
        "jobs": args.jobs,
        "n": args.n,
        "options": {
            "sandbox": not args.no_sandbox,
            "feedback": not args.no_feedback,
            "submission_cache": not args.no_submission_cache,
            "batch": args.batch,
        },
        "assignments": args.assignments,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "ccache": bool(shutil.which("ccache")),
            "load_before": _load(),
        },
        "scores": {},
    }
    classes = {a: class_of(a, args.n) for a in args.assignments}
    record["class"] = {a: [kind for _s, kind, _b in k] for a, k in classes.items()}
    total = args.n * len(args.assignments)
    try:
        print(
            f"{total} submissions ({args.n} per assignment: {', '.join(args.assignments)}) on "
            f"{backend}; load {record['machine']['load_before']}; scratch {work}",
            flush=True,
        )
        if args.baseline_from:
            reuse_baseline(record, Path(args.baseline_from))
            print(
                f"baseline   taken from {args.baseline_from} (measured at commit "
                f"{record['baseline'].get('commit')}, {record['baseline'].get('finished')})"
            )
        elif not args.skip_baseline:
            stats = work / "baseline-stats.jsonl"
            # a naive course: no result cache and no ccache
            env = _env(**{settings.STATS_ENV: str(stats), "CXX": "g++", "CC": "gcc"})
            env["CCACHE_DISABLE"] = "1"
            runs = []
            for a, klass in classes.items():
                course = work / "baseline" / a
                make_course(course, a, klass, backend, baseline=True)
                cmd = [sys.executable, "-m", "nbgrader", "autograde", a, "--force"]
                runs.append(run(cmd, course, env))
                (work / f"baseline-{a}.log").write_text(runs[-1]["log"])
                record["scores"].setdefault(a, {})["baseline"] = baseline_scores(course, a)
            record["baseline"] = phase("baseline", runs, stats, total)
        cache = work / "cache"
        phases = () if args.baseline_only else (("pipeline", False), ("regrade", True))
        if args.no_regrade:
            phases = phases[:1]
        for label, force in phases:
            stats = work / f"{label}-stats.jsonl"
            env = _env(**{settings.STATS_ENV: str(stats)})
            if args.no_submission_cache:
                env[settings.NO_SUBMISSION_CACHE_ENV] = "1"
            runs = []
            for a, klass in classes.items():
                course = work / "pipeline" / a
                if not force:
                    make_course(course, a, klass, backend, baseline=False)
                cmd = [
                    sys.executable,
                    "-m",
                    "autograde",
                    "grade",
                    a,
                    "--course",
                    str(course),
                    "--jobs",
                    str(args.jobs),
                    "--backend",
                    backend,
                    "--cache",
                    str(cache),
                ]
                cmd += ["--force"] if force else []
                cmd += ["--no-sandbox"] if args.no_sandbox else []
                cmd += ["--no-feedback"] if args.no_feedback else []
                cmd += ["--batch", args.batch]
                runs.append(run(cmd, course, env))
                (work / f"{label}-{a}.log").write_text(runs[-1]["log"])
                if runs[-1]["rc"] not in (0, 3):
                    print(runs[-1]["log"][-3000:], file=sys.stderr)
                record["scores"].setdefault(a, {})[label] = pipeline_scores(course, a)
            record[label] = phase(label, runs, stats, total)
        if "baseline" in record and "regrade" in record:
            base = record["baseline"]["wall_s"]
            record["ratio_baseline_over_pipeline"] = round(base / record["pipeline"]["wall_s"], 2)
            record["ratio_baseline_over_regrade"] = round(base / record["regrade"]["wall_s"], 2)
            print(
                f"(a)/(b) = {record['ratio_baseline_over_pipeline']:.2f}   "
                f"(a)/(b-regrade) = {record['ratio_baseline_over_regrade']:.2f}"
            )
            agree = disagree = 0
            for sc in record["scores"].values():
                for s, v in sc.get("baseline", {}).items():
                    w = sc.get("pipeline", {}).get(s)
                    if w is not None and abs(v - w) < 1e-3:  # the pipeline rounds to 1e-4
                        agree += 1
                    else:
                        disagree += 1
            record["scores_agree"] = {"same": agree, "different": disagree}
            print(f"scores: (a) and (b) agree on {agree}, differ on {disagree} submissions")
        record["machine"]["load_after"] = _load()
        print(
            f"load average before {record['machine']['load_before']}, after "
            f"{record['machine']['load_after']}"
        )
    finally:
        if args.out:
            Path(args.out).write_text(json.dumps(record, indent=1))
        if not args.keep and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
