"""Does a GPU server grade right, and how fast? ``./dev gpu-check`` answers in one table.

On a machine with an NVIDIA GPU and GeNN's CUDA backend, the default run (8 minutes on a
16-core machine, ``--budget 480``) does, in this order (most telling first, so that a cut budget
loses the least):

1. one cold submission per backend, timed (``graders check --no-cache``, ccache off): ``genn``
   with every lever of :mod:`graders.genn_cuda` on, then C++ standalone;
2. every entry of both test banks (``tests/bank/``) graded on ``genn`` and on C++ standalone,
   each verdict (status, score, every check passed or not) compared. ``genn`` grades the bank
   the way the pipeline does: the answers built together first (:mod:`autograde.batches`'s
   GPU sizing), then each graded through ``python -m graders check``, which finds its result;
3. the class benchmark (``benchmarks/grade_class.py``, a class of ``-n`` = 10 per assignment,
   ``--jobs`` = cores, no baseline, no regrade) on ``genn`` with batch builds and on
   ``cpp_standalone`` without (each backend as the pipeline grades on it by default).

``--budget 0`` (the full run, no time limit) adds: the pytest tests marked ``cuda`` (beside the
banks), the cold ``genn`` submission again with each lever off in turn
(``AUTOGRADE_GENN_LEVERS_OFF``: manual device and block sizes, simple error handling, parallel
make) and twice through a fresh ccache (the second build's nvcc all hits), and the class on
``genn`` without batches and on ``cpp_standalone`` with them. ``--steps`` runs the named steps
only (e.g. ``--steps cold`` with ``--budget 0``: the levers alone).

Then it prints ONE table (wall time, seconds per submission, builds, scores or verdicts equal)
and writes the record to ``benchmarks/results/`` like the other benchmarks.

Time budget: before it starts, every step's time is estimated from build costs (nvcc: 60-140 s
per model with 16 builds at once on an H200 machine, issue 11, before the levers; a C++
standalone build: ~13 s there) and re-planned from this machine's own cold builds, which run
first for that reason. Steps run in the order above, each under a hard limit of the time left;
a step whose estimate no longer fits is skipped and named in the table (exit 1), never silently
dropped. By the plan (:func:`estimates`) the default run fits 8 minutes when a cold ``genn``
model builds in about 54 s or less; at the 100 s measured before the levers its class step
would be cut.

Without a usable ``genn`` backend (no NVIDIA GPU, no CUDA, no GeNN with its CUDA backend) it
says why and runs nothing: exit 3. ``--rehearse`` runs the same machinery (the full run) on
``genn-cpu`` (or ``runtime`` without GeNN) against C++ standalone, with a small class, to prove
the script.

Exit status: 0 every step ran and everything agreed; 1 a step failed, disagreed or was cut by the
budget; 3 no GPU here (nothing ran).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from graders import assignments

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
BANK = REPO / "tests" / "bank"
# Every registered assignment with a bank of sample answers, as benchmarks/grade_class.py grades.
ASSIGNMENTS = tuple(a for a in assignments.names() if (BANK / a).is_dir())
EXIT_NO_GPU = 3
REF = "cpp_standalone"

#: Seconds for one model's build, per backend, used only to plan the budget. genn: issue 11
#: measured 60-141 s per submission on genn with 16 builds at once on 16 cores (H200 machine),
#: nvcc dominating; 100 s is the middle. cpp_standalone: 13 s cold there. genn-cpu and runtime:
#: this project's 2-core machine (README, "Measured here": 18.3 s and 3.7 s).
BUILD_S = {"genn": 100.0, "genn-cpu": 18.3, "cpp_standalone": 13.0, "runtime": 3.7}
#: A submission's notebook in its sandboxed kernel, the trusted step and the feedback plots,
#: answer cached (README: 4.3-4.5 s adaptive; E/I's own simulation adds ~5 s).
NOTEBOOK_S = 7.0
#: Per assignment and run: nbgrader start-up, the batches' notebook reading, feedback pages,
#: ``nbgrader export`` (README: a re-grade of 40 takes 22 s, most of it this).
RUN_OVERHEAD_S = 20.0
#: ``python -m graders check`` that finds its result in the cache (start-up, imports, checks).
CLI_HIT_S = 4.0
#: What pytest -m cuda may take at most (it is cut there; the rest of the budget is the others').
PYTEST_CAP_S = 150.0


# --- running things under the budget ----------------------------------------------------------


class Budget:
    """Seconds left of ``total`` since it was made; ``None`` means no limit."""

    def __init__(self, total: float | None):
        self.total, self.t0 = total, time.monotonic()

    def left(self) -> float:
        if self.total is None:
            return float("inf")
        return self.total - (time.monotonic() - self.t0)

    def fits(self, estimate: float) -> bool:
        return estimate <= self.left()


def run(cmd: list[str], *, limit: float, env: dict | None = None, input: str | None = None):
    """Run ``cmd`` in its own process group, killed whole past ``limit`` seconds.

    Returns ``(returncode or None when cut, stdout+stderr, seconds)``.
    """
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env or _env(),
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(input, timeout=None if limit == float("inf") else limit)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        rc = None
    return rc, out, round(time.monotonic() - t0, 2)


def _env(**extra) -> dict:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update({k: str(v) for k, v in extra.items()})
    return env


# --- the steps --------------------------------------------------------------------------------


def step_pytest(backend: str, budget: Budget, marker: str) -> dict:
    """The pytest tests marked ``marker`` (``cuda``): passed, failed, skipped."""
    limit = min(PYTEST_CAP_S, budget.left())
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", marker, "-p", "no:cacheprovider"]
    rc, out, secs = run(cmd, limit=limit)
    tail = out.strip().splitlines()[-1].strip("= ") if out.strip() else ""
    counts = {w: int(k) for k, w in re.findall(r"(\d+) (passed|failed|skipped|errors?)", tail)}
    # exit 5: nothing collected (no test carries the marker yet) is not a failure; a cuda test
    # skipped where the GPU backend was found is (it did not run where it should)
    ok = rc in (0, 5) and not (backend == "genn" and counts.get("skipped"))
    return {
        "step": f"pytest -m {marker}",
        "backend": backend,
        "wall_s": secs,
        "ok": ok,
        "result": tail or f"exit {rc}",
        "counts": counts,
        "cut": rc is None,
    }


def bank_entries(sample: int | None) -> dict[str, list[Path]]:
    """Every bank entry per assignment, or a sample: the first right, wrong and invalid ones
    and then the rest in order, ``sample`` in all."""
    out = {}
    for a in ASSIGNMENTS:
        paths = sorted((BANK / a).glob("*.json"))
        if sample is not None:
            first = [next(p for p in paths if p.stem.startswith(k)) for k in ("right", "wrong")]
            first += [p for p in paths if p.stem.startswith("invalid")][:1]
            paths = (first + [p for p in paths if p not in first])[:sample]
        out[a] = paths
    return out


def _verdict(assignment: str, spec: dict, backend: str, cache: Path, limit: float) -> dict:
    from graders import settings

    cmd = [sys.executable, "-m", "graders", "check", assignment, "-", "--backend", backend]
    env = _env(**{settings.CACHE_ENV: cache, settings.MAKE_JOBS_ENV: 2})
    rc, out, secs = run(cmd, limit=limit, env=env, input=json.dumps(spec))
    try:
        v = json.loads(out[out.index("{") :])
    except ValueError:
        return {"rc": rc, "error": out.strip()[-400:], "seconds": secs}
    if rc == 2:
        return {"rc": 2, "invalid": sorted({p["field"] for p in v.get("problems", [])})}
    return {
        "rc": rc,
        "status": v.get("status"),
        "score": v.get("score"),
        "checks": {c["name"]: [c["passed"], round(c["points"], 3)] for c in v.get("checks", [])},
        "cached": (v.get("timing") or {}).get("cached"),
        "seconds": secs,
    }


def _prebuild(assignment: str, specs: list[dict], backend: str, cache: Path, jobs: int) -> dict:
    """Build the bank's valid answers together, sized as the pipeline sizes them."""
    from autograde.batches import chunks, gpu_memory_mb
    from graders import gpus
    from graders.assignments import get
    from graders.harness import simulate_batch
    from graders.spec import validate

    a = get(assignment)
    valid = []
    for spec in specs:
        try:
            valid.append(validate(a, spec)[0])
        except Exception:  # invalid answers are graded (refused) without a build
            continue
    gpu = backend == "genn"
    batches = chunks(valid, jobs, gpu=gpu, gpu_memory_mb=gpu_memory_mb() if gpu else None)
    cases = a.simulated_cases()
    on = gpus.found() if gpu else []  # round-robin over every GPU, as the pipeline's batches

    def build(i: int) -> list[str]:
        return simulate_batch(
            assignment, batches[i], cases, backend, cache_dir=cache, gpu=gpus.assign(on, i)
        )

    with ThreadPoolExecutor(max_workers=max(1, len(batches))) as pool:
        results = list(pool.map(build, range(len(batches))))
    status: dict[str, int] = {}
    for r in results:
        for st in r:
            status[st] = status.get(st, 0) + 1
    return {"models": len(batches), "status": status}


def _same(x: dict, y: dict) -> bool:
    if "invalid" in x or "invalid" in y:
        return x.get("invalid") == y.get("invalid")
    if x.get("status") != y.get("status") or set(x.get("checks", {})) != set(y.get("checks", {})):
        return False
    return all(
        x["checks"][k][0] == y["checks"][k][0] and abs(x["checks"][k][1] - y["checks"][k][1]) < 1e-3
        for k in x["checks"]
    )


def step_banks(backend: str, budget: Budget, jobs: int, sample: int | None, work: Path) -> dict:
    """Both banks on ``backend`` and on C++ standalone; every verdict compared."""
    t0 = time.monotonic()
    entries = bank_entries(sample)
    specs = {a: [json.loads(p.read_text()) for p in ps] for a, ps in entries.items()}
    caches = {backend: work / f"bank-cache-{backend}", REF: work / f"bank-cache-{REF}"}
    prebuilt = {}
    verdicts: dict[str, dict[str, dict]] = {backend: {}, REF: {}}

    def grade(b: str, a: str, path: Path, entry: dict) -> None:
        limit = max(1.0, budget.left())
        verdicts[b][f"{a}/{path.stem}"] = _verdict(a, entry["spec"], b, caches[b], limit)

    def on_backend() -> None:
        if backend.startswith("genn"):  # the pipeline's batch builds, GPU-sized on genn
            for a in ASSIGNMENTS:
                prebuilt[a] = _prebuild(
                    a, [e["spec"] for e in specs[a]], backend, caches[backend], jobs
                )

    # C++ standalone builds every answer alone (as its pipeline does) while genn builds its
    # models: nvcc leaves most cores idle, and this step compares verdicts, not times
    with ThreadPoolExecutor(max_workers=max(2, jobs)) as pool:
        ref = [
            pool.submit(grade, REF, a, p, e)
            for a in ASSIGNMENTS
            for p, e in zip(entries[a], specs[a], strict=True)
        ]
        on_backend()
        mine = [
            pool.submit(grade, backend, a, p, e)
            for a in ASSIGNMENTS
            for p, e in zip(entries[a], specs[a], strict=True)
        ]
        for f in ref + mine:
            f.result()
    borderline = set()
    for a in ASSIGNMENTS:
        for p, e in zip(entries[a], specs[a], strict=True):
            if any(v is None for v in e.get("expect", {}).values()):
                borderline.add(f"{a}/{p.stem}")
    differ = sorted(k for k in verdicts[REF] if not _same(verdicts[backend][k], verdicts[REF][k]))
    unexpected = [k for k in differ if k not in borderline]
    n = len(verdicts[REF])
    builds = sum(m["models"] for m in prebuilt.values())
    return {
        "step": f"bank verdicts ({n} entries)",
        "backend": f"{backend} vs {REF}",
        "wall_s": round(time.monotonic() - t0, 2),
        "builds": f"{builds} batch models" if prebuilt else "",
        "ok": not unexpected and budget.left() > 0,
        "result": f"{n - len(differ)}/{n} equal"
        + (f"; differ: {', '.join(differ)}" if differ else "")
        + (
            f" (borderline, known: {', '.join(sorted(set(differ) & borderline))})"
            if set(differ) & borderline
            else ""
        ),
        "prebuilt": prebuilt,
        "verdicts": verdicts,
        "cut": budget.left() <= 0,
    }


def step_cold(
    backend: str, budget: Budget, work: Path, *, off: str = "", ccache: Path | None = None
) -> dict:
    """One cold submission (validation, build, run, checks) on ``backend``: ccache off (or
    ``ccache``'s folder), the GeNN levers named in ``off`` left at Brian2GeNN's defaults."""
    from graders import settings

    spec = json.loads((BANK / "adaptive_threshold" / "right_canonical.json").read_text())["spec"]
    cmd = [sys.executable, "-m", "graders", "check", "adaptive_threshold", "-"]
    cmd += ["--backend", backend, "--no-cache"]
    extra = {settings.CACHE_ENV: work / "cold-cache", settings.GENN_LEVERS_OFF_ENV: off}
    extra.update({"CCACHE_DIR": ccache} if ccache else {"CCACHE_DISABLE": 1})
    env = _env(**extra)
    if ccache:
        env.pop("CCACHE_DISABLE", None)
    rc, out, secs = run(cmd, limit=max(1.0, budget.left()), env=env, input=json.dumps(spec))
    score = None
    try:
        v = json.loads(out[out.index("{") :])
        score = f"{v['score']:g}/{v['max_score']:g} {v['status']}"
    except (ValueError, KeyError):
        pass
    what = f"{off} off" if off else ("through a fresh ccache" if ccache else "every lever on")
    return {
        "step": f"cold submission (build + run), {what}"
        if backend.startswith("genn")
        else "cold submission (build + run)",
        "backend": backend,
        "wall_s": secs,
        "s_per_submission": secs,
        "builds": "1",
        "ok": rc == 0 and score is not None and score.startswith("10/10"),
        "result": score or f"exit {rc}: {out.strip()[-300:]}",
        "cut": rc is None,
        "levers_off": off,
    }


#: The GeNN levers (``graders.genn_cuda.LEVERS``) a backend takes, each timed off in the full run;
#: ``nvcc_ccache`` is timed as two builds through one fresh ccache instead.
LEVERS_OFF = {"genn": ("manual", "simple_errors", "make_jobs"), "genn-cpu": ("make_jobs",)}


def step_levers(backend: str, budget: Budget, work: Path) -> list[dict]:
    """The cold submission again with each lever off, and twice through a fresh ccache (on
    ``genn`` the second build's nvcc and g++ are all hits): what each lever is worth."""
    rows = [step_cold(backend, budget, work, off=lever) for lever in LEVERS_OFF.get(backend, ())]
    if backend.startswith("genn"):
        fresh = work / "lever-ccache"
        first = step_cold(backend, budget, work, ccache=fresh)
        again = step_cold(backend, budget, work, ccache=fresh)
        first["step"] += " (filling it)"
        again["step"] = again["step"].replace("a fresh ccache", "it again, warm")
        rows += [first, again]
    return rows


def step_class(backend: str, batch: str, budget: Budget, n: int, jobs: int, work: Path) -> dict:
    """``benchmarks/grade_class.py`` on ``backend`` with ``--batch``: wall, builds, scores."""
    out = work / f"class-{backend}-{batch}.json"
    cmd = [sys.executable, str(REPO / "benchmarks" / "grade_class.py"), "--backend", backend]
    cmd += ["-n", str(n), "--jobs", str(jobs), "--skip-baseline", "--no-regrade"]
    cmd += [
        "--batch",
        batch,
        "--out",
        str(out),
        "--workdir",
        str(work / f"class-{backend}-{batch}"),
    ]
    rc, log, secs = run(cmd, limit=max(1.0, budget.left()))
    rec = json.loads(out.read_text()) if out.is_file() else {}
    p = rec.get("pipeline", {})
    scores = {a: sc.get("pipeline", {}) for a, sc in rec.get("scores", {}).items()}
    return {
        "step": f"class N={n}x{len(ASSIGNMENTS)} --batch {batch}",
        "backend": backend,
        "wall_s": p.get("wall_s", secs),
        "s_per_submission": p.get("s_per_submission"),
        "builds": f"{p.get('builds', '?')} + {p.get('batch_builds', '?')} batch" if p else "",
        "ok": rc == 0 and bool(p),
        "result": "" if rc == 0 else f"exit {rc}: {log.strip()[-300:]}",
        "scores": scores,
        "load_mean": p.get("load_mean"),
        "cut": rc is None,
    }


# --- planning ---------------------------------------------------------------------------------


def estimates(
    backend: str,
    cores: int,
    n: int,
    jobs: int,
    bank_n: int,
    build_s: dict | None = None,
    full: bool = False,
) -> dict[str, float]:
    """Seconds each step is expected to take; the plan, not a promise.

    ``build_s`` is one build's time per backend: :data:`BUILD_S` at first, then what the cold
    submissions measured on this machine (they run first for that reason). ``full``: the
    full run's extra work in the steps of the default one (the levers in ``cold``, the
    ``cuda`` tests beside the banks).
    """
    from autograde.batches import gpu_batch_size

    build_s = build_s or BUILD_S
    b, r = build_s[backend], build_s[REF]
    distinct = max(1, n // 2)  # a class of n: about half its answers are distinct (README)
    waves_alone = -(-distinct // jobs)  # graders build their answers alone, jobs at a time
    if backend == "genn":
        waves_batched = -(-distinct // gpu_batch_size())  # models, all built at once
    else:
        waves_batched = -(-min(jobs, distinct) // cores)
    notebooks = -(-n // jobs) * NOTEBOOK_S + RUN_OVERHEAD_S
    per = len(ASSIGNMENTS)  # grade_class grades the assignments one after the other
    batched = 1.5  # a model of many answers holds more code than one answer's
    bank_waves = -(-bank_n // jobs)
    banks = max(batched * b, bank_waves * r * batched) + bank_waves * CLI_HIT_S * 2
    # the full run: a cold build per lever off, two more through a fresh ccache (the manual
    # lever off compiles twice: GeNN's throwaway pass)
    levers = LEVERS_OFF.get(backend, ())
    lever_builds = len(levers) + ("manual" in levers) + 2 * backend.startswith("genn")
    return {
        "cold": (b + 5) * (1 + (lever_builds if full else 0)),
        "cold-ref": r + 5,
        # pytest runs beside the banks (neither is timed for the table)
        "banks": max(PYTEST_CAP_S if backend == "genn" else 60.0, banks) if full else banks,
        f"class {backend} on": per * (waves_batched * batched * b + notebooks),
        f"class {REF} off": per * (waves_alone * r + notebooks),
        f"class {backend} off": per * (waves_alone * b + notebooks),
        f"class {REF} on": per * (batched * r + notebooks),
    }


# --- the table --------------------------------------------------------------------------------


def table(rows: list[dict]) -> str:
    head = ("step", "backend", "wall s", "s/submission", "builds", "result")
    lines = []
    for r in rows:
        sps = r.get("s_per_submission")
        lines.append(
            (
                r["step"],
                r["backend"],
                "-" if r.get("skipped") else f"{r['wall_s']:.1f}",
                "-" if sps is None else f"{sps:.2f}",
                r.get("builds") or "-",
                "; ".join(
                    x
                    for x in (
                        "CUT at budget" if r.get("cut") else "",
                        r.get("result") or ("" if r.get("ok") else "FAILED"),
                        r.get("scores_note", ""),
                    )
                    if x
                )
                or "ok",
            )
        )
    widths = [
        max(len(h), *(len(x[i]) for x in lines)) if lines else len(h) for i, h in enumerate(head)
    ]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths[:-1]) + "  {}"
    out = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*x) for x in lines]
    return "\n".join(out)


def compare_scores(rows: list[dict]) -> None:
    """Mark each class row whose scores equal the C++ standalone ``--batch off`` row's."""
    ref = next((r for r in rows if r.get("backend") == REF and r["step"].endswith("off")), None)
    for r in rows:
        if "scores" not in r or r.get("skipped") or ref is None or not ref.get("scores"):
            continue
        if r is ref:
            r["scores_note"] = "scores: the reference"
            continue
        same = diff = 0
        differ = []
        for a, sc in ref["scores"].items():
            for s, v in sc.items():
                w = r["scores"].get(a, {}).get(s)
                if v == w or (v is not None and w is not None and abs(v - w) < 1e-3):
                    same += 1
                else:
                    diff += 1
                    differ.append(f"{a}/{s}")
        r["scores_equal"] = {"same": same, "different": diff, "which": differ}
        r["scores_note"] = f"scores equal to {REF} off: {same}/{same + diff}" + (
            f" (differ: {', '.join(differ[:4])}{'...' if len(differ) > 4 else ''})" if diff else ""
        )


def _finish(rows: list[dict], t0: float, budget_s, record: dict, out: Path):
    """Compare scores, make the table, write the record (atomically); ``(total, table, ok)``."""
    compare_scores(rows)
    total = round(time.monotonic() - t0, 1)
    text = table(rows)
    ok = all(r["ok"] for r in rows) and all(
        r.get("scores_equal", {}).get("different", 0) == 0 for r in rows
    )
    record.update(
        total_s=total,
        ok=ok,
        rows=rows,
        table=text,
        load_after=list(os.getloadavg()),
        finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1, default=str))
    os.replace(tmp, out)
    return total, text, ok


def _plan(title: str, est: dict[str, float]) -> None:
    items = ", ".join(f"{k} {v:.0f}" for k, v in est.items())
    print(f"{title} (s): {items}; total {sum(est.values()):.0f}", flush=True)


# --- main -------------------------------------------------------------------------------------


#: The steps of the default run, in order; ``--budget 0`` runs :data:`FULL_ONLY` after them.
DEFAULT_STEPS = ("cold", "cold-ref", "banks", "class {backend} on", "class {ref} off")
FULL_ONLY = ("class {backend} off", "class {ref} on")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="./dev gpu-check", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--rehearse",
        action="store_true",
        help="no GPU needed: the same steps on genn-cpu (runtime without GeNN), small class",
    )
    p.add_argument("-n", "--n", type=int, default=None, help="class size per assignment (10)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="workers (cores)")
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds for the default run (480); 0: the full run (levers, cuda tests, the "
        "class with batches on and off on both backends) without a limit",
    )
    p.add_argument(
        "--steps",
        default=None,
        help="comma-separated steps to run, of: cold, cold-ref, banks, class-genn-on, "
        "class-ref-off, class-genn-off, class-ref-on (default: the run's own)",
    )
    p.add_argument(
        "--bank-sample",
        type=int,
        default=None,
        help="entries per bank (default all; --rehearse: 3)",
    )
    p.add_argument(
        "--out", default=None, help="record (default benchmarks/results/gpu_check*.json)"
    )
    p.add_argument("--workdir", default=None, help="scratch folder (default a new temp one)")
    return p


def _step_name(key: str, backend: str) -> str:
    """``class genn on`` -> ``class-genn-on`` (``class-ref-off`` for C++ standalone)."""
    return key.replace(backend, "genn").replace(REF, "ref").replace(" ", "-")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sys.path.insert(0, str(REPO))
    from graders import backends

    table_ = {b.name: b for b in backends.detect()}
    if args.rehearse:
        backend = "genn-cpu" if table_["genn-cpu"].available else "runtime"
        n = args.n or 2
        sample = args.bank_sample if args.bank_sample is not None else 3
        budget_s = args.budget if args.budget is not None else 0
    else:
        if not table_["genn"].available:
            print(
                "gpu-check: no usable GPU backend here, so nothing was run.\n"
                f"  genn: {table_['genn'].reason}\n"
                "It needs an NVIDIA GPU, CUDA (CUDA_PATH, /usr/local/cuda or nvcc on PATH) and "
                "GeNN 4.9.0 built with its CUDA backend (./dev genn). To prove the script "
                "without a GPU: ./dev gpu-check --rehearse",
                file=sys.stderr,
            )
            return EXIT_NO_GPU
        backend = "genn"
        n = args.n or 10
        sample = args.bank_sample
        budget_s = args.budget if args.budget is not None else 480
    full = not budget_s
    cores = os.cpu_count() or 1
    jobs = max(1, args.jobs)
    bank_n = sum(len(v) for v in bank_entries(sample).values())
    build_s = dict(BUILD_S)
    est = estimates(backend, cores, n, jobs, bank_n, build_s, full)
    budget = Budget(budget_s or None)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="gpu-check-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    print(
        f"gpu-check{' (REHEARSAL)' if args.rehearse else ''}: {backend} against {REF}, "
        f"{cores} cores, --jobs {jobs}, class N = {n} per assignment, {bank_n} bank entries; "
        f"budget {f'{budget_s:.0f} s' if budget_s else 'none (the full run)'}; "
        f"load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    _plan("plan before measuring", est)

    def cold() -> list[dict]:
        rows = [step_cold(backend, budget, work)]
        return rows + (step_levers(backend, budget, work) if full else [])

    def correctness() -> list[dict]:
        if not full:
            return [step_banks(backend, budget, jobs, sample, work)]
        with ThreadPoolExecutor(max_workers=2) as pool:
            tests = pool.submit(step_pytest, backend, budget, "cuda")
            banks = pool.submit(step_banks, backend, budget, jobs, sample, work)
            return [tests.result(), banks.result()]

    run_ = {
        "cold": cold,
        "cold-ref": lambda: [step_cold(REF, budget, work)],
        "banks": correctness,
        f"class {backend} on": lambda: [step_class(backend, "on", budget, n, jobs, work)],
        f"class {REF} off": lambda: [step_class(REF, "off", budget, n, jobs, work)],
        f"class {backend} off": lambda: [step_class(backend, "off", budget, n, jobs, work)],
        f"class {REF} on": lambda: [step_class(REF, "on", budget, n, jobs, work)],
    }
    keys = [k.format(backend=backend, ref=REF) for k in DEFAULT_STEPS + FULL_ONLY]
    chosen = set(keys[: None if full else len(DEFAULT_STEPS)])
    if args.steps:
        wanted = {x.strip() for x in args.steps.split(",") if x.strip()}
        unknown = wanted - {_step_name(k, backend) for k in keys}
        if unknown:
            print(f"gpu-check: unknown steps {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        chosen = {k for k in keys if _step_name(k, backend) in wanted}
    record = {
        "rehearsal": args.rehearse,
        "backend": backend,
        "reference": REF,
        "n": n,
        "jobs": jobs,
        "cores": cores,
        "budget_s": budget_s,
        "full": full,
        "steps": sorted(chosen, key=keys.index),
        "estimates_s": {k: round(v, 1) for k, v in est.items()},
        "build_s_used": build_s,
        "load_before": list(os.getloadavg()),
        "commit": subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
    }
    name = f"gpu_check{'_rehearsal_' + backend.replace('-', '_') if args.rehearse else ''}.json"
    out = Path(args.out) if args.out else RESULTS / name
    rows = []
    t0 = time.monotonic()
    for key in keys:
        want = est[key]
        why = ""
        if key not in chosen:
            why = "not asked for (--steps)" if args.steps else "in the full run only (--budget 0)"
        elif not budget.fits(want):
            why = f"estimated {want:.0f} s, {max(0, budget.left()):.0f} s left (raise --budget)"
        if why:
            rows.append(
                {
                    "step": key,
                    "backend": "",
                    "skipped": True,
                    # a step the run never meant to take is no failure; one the budget cut is
                    "ok": key not in chosen,
                    "wall_s": 0,
                    "result": f"SKIPPED: {why}",
                }
            )
            print(f"  {key}: skipped ({why})", flush=True)
            _finish(rows, t0, budget_s, record, out)
            continue
        print(f"  {key} (estimated {want:.0f} s) ...", end=" ", flush=True)
        got = run_[key]()
        rows += got
        _finish(rows, t0, budget_s, record, out)  # a run cut from outside keeps what it did
        print(
            ", ".join(f"{r['wall_s']:.1f} s{'' if r['ok'] else ' (not ok)'}" for r in got),
            flush=True,
        )
        if key in ("cold", "cold-ref") and got[0]["ok"]:
            # measured here: plan the rest with it (less the CLI's start-up and checks)
            name = backend if key == "cold" else REF
            build_s[name] = max(1.0, got[0]["wall_s"] - 5)
            est = estimates(backend, cores, n, jobs, bank_n, build_s, full)
            _plan("plan with this machine's cold builds", est)
    total, text, ok = _finish(rows, t0, budget_s, record, out)
    print()
    print(text)
    print(
        f"\ntotal {total:.1f} s ({'within' if not budget_s or total <= budget_s else 'OVER'} "
        f"the {budget_s or '-'} s budget); load average now {os.getloadavg()}; "
        f"{'everything agreed' if ok else 'NOT everything ran or agreed'}"
    )
    print(f"record: {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
