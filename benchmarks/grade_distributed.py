"""Grade one class twice: the local process pool (``--jobs 2``) and a two-worker dask cluster.

The class is :mod:`grade_class`'s (``-n`` submissions per assignment: right answers, copies,
layout variants, equivalent variants, wrong and broken ones), written twice, so that both runs
grade the same notebooks from scratch, each with a fresh result cache (and so a cold ccache
store, which lives in it):

(a) *pool*: ``autograde grade --jobs 2``, the default;
(b) *cluster*: a ``distributed.LocalCluster`` of two worker processes of one thread each (as
    ``dask worker ADDRESS --nthreads 1 --nworkers 2`` starts them), started by this script
    (its start-up is not counted), and ``autograde grade --scheduler ADDRESS``.

It prints the wall time of each and the scores side by side, and writes them to
``benchmarks/results/distributed_<backend>_n<N>.json`` (or ``--out``)::

    python benchmarks/grade_distributed.py [--backend B] [-n 4] [--assignments A ...]

(Not ``distributed.py``: run as a script, this folder comes first on ``sys.path``, and that name
would hide dask's ``distributed`` package from this script and from the workers it starts.)

Both runs share this machine: the cluster shows what dask's scheduling and the data the jobs
carry cost, not what more machines gain. Timings depend on the machine's load; the record notes
the load average before and after, its mean while each run ran, and the commit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import grade_class  # this folder's class benchmark: the class and the measuring

from autograde import cluster
from graders import backends, settings

REPO = grade_class.REPO


def grade(course: Path, assignment: str, extra: list[str], cache: Path) -> dict:
    """``autograde grade`` of ``course`` with ``extra`` options; its run record and scores."""
    cmd = [sys.executable, "-m", "autograde", "grade", assignment, "--no-feedback", *extra]
    r = grade_class.run(cmd, course, grade_class._env(**{settings.CACHE_ENV: str(cache)}))
    if r["rc"] != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r['rc']}):\n{r['log'][-4000:]}")
    return {"run": r, "scores": grade_class.pipeline_scores(course, assignment)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", default=None, help="simulation backend (default: best available)")
    p.add_argument("-n", type=int, default=4, help="submissions per assignment (default 4)")
    p.add_argument(
        "--assignments",
        nargs="+",
        choices=grade_class.ASSIGNMENTS,
        default=["adaptive_threshold"],
        metavar="A",
    )
    p.add_argument("--out", default=None, help="the JSON record (default benchmarks/results/...)")
    p.add_argument("--workdir", default=None, help="scratch folder (default: a new temp one)")
    args = p.parse_args(argv)
    # Imported here: the script's --help should not wait for dask.
    import distributed

    backend = backends.choose(args.backend)
    print(f"backend: {backend}, {args.n} submissions of {', '.join(args.assignments)}", flush=True)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="autograde-dist-bench-"))
    record = {
        "backend": backend,
        "n": args.n,
        "assignments": args.assignments,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "distributed": distributed.__version__,
            "load_before": grade_class._load(),
        },
        "commit": grade_class._commit(),
        "scores": {},
    }
    walls = {"pool": 0.0, "cluster": 0.0}
    loads = {"pool": [], "cluster": []}
    options = ["--backend", backend]
    for assignment in args.assignments:
        klass = grade_class.class_of(assignment, args.n)
        record.setdefault("class", {})[assignment] = [kind for _, kind, _ in klass]
        courses = {}
        for name in walls:
            courses[name] = work / name / assignment
            grade_class.make_course(courses[name], assignment, klass, backend, baseline=False)
        pool = grade(
            courses["pool"], assignment, [*options, "--jobs", "2"], work / "cache-pool" / assignment
        )
        cache = work / "cache-cluster" / assignment
        worker_env = {settings.CACHE_ENV: str(cache), settings.BACKEND_ENV: backend}
        # the scheduler set up as the README's (one job per free worker, one rerun)
        with cluster.local_cluster(2, worker_env) as lc:
            remote = grade(
                courses["cluster"],
                assignment,
                [*options, "--scheduler", lc.scheduler_address],
                work / "cache-coordinator",
            )
        for name, res in (("pool", pool), ("cluster", remote)):
            walls[name] += res["run"]["wall_s"]
            if res["run"]["load_mean"] is not None:
                loads[name].append(res["run"]["load_mean"])
        record["scores"][assignment] = {"pool": pool["scores"], "cluster": remote["scores"]}
        print(f"\n{assignment}: {'student':<24} {'pool':>8} {'cluster':>8}")
        for s in sorted(pool["scores"]):
            a, b = pool["scores"][s], remote["scores"].get(s)
            print(f"{'':<{len(assignment) + 2}}{s:<24} {a!s:>8} {b!s:>8}")
    n = args.n * len(args.assignments)
    for name in walls:
        record[name] = {
            "wall_s": round(walls[name], 2),
            "s_per_submission": round(walls[name] / max(1, n), 2),
            "load_mean": grade_class._mean(loads[name]),
        }
    record["machine"]["load_after"] = grade_class._load()
    pairs = [
        (sc["pool"][s], sc["cluster"].get(s))
        for sc in record["scores"].values()
        for s in sc["pool"]
    ]
    same = sum(a == b for a, b in pairs)
    record["scores_agree"] = {"same": same, "different": n - same}
    record["ratio_cluster_over_pool"] = round(walls["cluster"] / max(walls["pool"], 1e-9), 2)
    print(
        f"\npool (--jobs 2)       wall {walls['pool']:7.1f} s  "
        f"(load mean {record['pool']['load_mean']})"
        f"\ncluster (2 workers)   wall {walls['cluster']:7.1f} s  "
        f"(load mean {record['cluster']['load_mean']})"
        f"\nscores: {same} of {n} the same; load before {record['machine']['load_before']}, "
        f"after {record['machine']['load_after']}"
    )
    name = f"distributed_{backend}_n{args.n}.json"
    out = Path(args.out or REPO / "benchmarks" / "results" / name)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"record: {out}")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if same == n else 1


if __name__ == "__main__":
    t0 = time.perf_counter()
    rc = main()
    print(f"({time.perf_counter() - t0:.0f} s in all)")
    sys.exit(rc)
