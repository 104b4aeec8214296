"""Submission-to-feedback latency of the grading service with N students submitting at once.

For each N, a fresh demo course, a fresh result cache and ``autograde serve`` on a free
loopback port; N students (the sample answers right, partly right and wrong, in turn) each
POST their notebook at the same moment, then poll (every second) until their feedback page can
be fetched. The result cache is on, as in a course. With ``--answers same`` (the default) the
students send those three answers, so only the first of each builds and simulates and the
others find the result cache's entries (warm: a class typing the same right answer); with
``--answers distinct`` every student's answer differs by a literal that changes no behaviour
(``v = vr*(1 + 0*k)``) but does change the result cache's key, so every submission builds and
simulates (cold).
A submission's latency runs from the start of its POST to the first poll that finds its
feedback. It prints p50 and p95 per N, the acknowledgement times, and the service's CPU and
memory while idle (before the burst) and under load (the service process alone and with
everything it started: workers, kernels, simulations), and writes the record to
``benchmarks/results/serve_latency_<backend>.json`` (or ``--out``)::

    python benchmarks/serve_latency.py [--backend cpp_standalone] [-n 1 10 50] [--jobs 2]
        [--answers same|distinct]

Timings depend on the machine's load: the record notes the load average before and after, the
cores, the commit and the options.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from autograde import demo
from autograde.service import tokens
from autograde.service.store import Store
from graders import settings

REPO = Path(__file__).resolve().parent.parent
A = "adaptive_threshold"
KINDS = ("right", "partly", "wrong")


def _call(url: str, method: str, path: str, token: str, body=None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _usage(proc: psutil.Process) -> dict:
    """CPU seconds of ``proc`` and resident MB of it alone and with its live descendants."""
    tree = [proc, *proc.children(recursive=True)]
    out = {"cpu_s": 0.0, "rss_mb": 0.0, "tree_rss_mb": 0.0}
    for k, p in enumerate(tree):
        try:
            t, m = p.cpu_times(), p.memory_info().rss / 1e6
        except psutil.Error:
            continue
        cpu = t.user + t.system
        out["tree_rss_mb"] += m
        if k == 0:
            out["cpu_s"], out["rss_mb"] = cpu, m
    return out


def _texts(released: dict, n: int, distinct: bool) -> list[str]:
    """Student ``k``'s notebook text, for each of ``n``: the three sample answers in turn, each
    made unique to its student where ``distinct`` (so that no two share a result cache entry)."""
    answers = demo.sample_answers(A)
    out = []
    for k in range(n):
        kind = KINDS[k % len(KINDS)]
        mine = dict(answers)
        if distinct:  # every sample answer resets with "v = vr"
            assert "v = vr" in mine[kind], mine[kind]
            mine[kind] = mine[kind].replace("v = vr", f"v = vr*(1 + 0*{k + 1})", 1)
        out.append(json.dumps(demo.answer_notebook(released, kind, "", mine)))
    return out


def run_n(n: int, backend: str, jobs: int, base: Path, distinct: bool = False) -> dict:
    """One burst of ``n`` students on a fresh course and cache; the figures."""
    course = demo.make_course(base / f"course-{n}", REPO, A, klass={})
    shutil.copytree(REPO / "release" / A, course / "release" / A)
    with open(course / "nbgrader_config.py", "a") as f:
        f.write("\nc.ServicePolicy.submissions_per_hour = 0\n")
    store = Store(course)
    students = [f"student{k:03d}" for k in range(n)]
    toks = {s: tokens.issue(store, tokens.STUDENT, s) for s in students}
    released = json.loads((REPO / "release" / A / f"{A}.ipynb").read_text())
    texts = _texts(released, n, distinct)
    load_before = os.getloadavg()
    env = dict(os.environ, **{settings.BACKEND_ENV: backend})
    env[settings.CACHE_ENV] = str(base / f"cache-{n}")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    port = _port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "autograde", "serve", "--course", str(course), "--port",
           str(port), "--jobs", str(jobs)]  # fmt: skip
    if not shutil.which("bwrap"):
        cmd.append("--no-sandbox")
    log = open(base / f"serve-{n}.log", "w")  # noqa: SIM115 -- closed below
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)  # fmt: skip
    try:
        while True:
            try:
                urllib.request.urlopen(url + "/status", timeout=5).close()
                break
            except OSError:
                if server.poll() is not None:
                    where = base / f"serve-{n}.log"
                    raise SystemExit(f"autograde serve exited; see {where}") from None
                time.sleep(0.3)
        me = psutil.Process(server.pid)
        time.sleep(5.0)
        a0 = _usage(me)
        time.sleep(10.0)
        a1 = _usage(me)
        idle = {
            "cpu_percent": 100 * (a1["cpu_s"] - a0["cpu_s"]) / 10.0,
            "rss_mb": a1["rss_mb"],
        }
        peak = {"rss_mb": 0.0, "tree_rss_mb": 0.0}
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                u = _usage(me)
                peak["rss_mb"] = max(peak["rss_mb"], u["rss_mb"])
                peak["tree_rss_mb"] = max(peak["tree_rss_mb"], u["tree_rss_mb"])
                stop.wait(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        rows: dict[str, dict] = {}
        go = threading.Barrier(n)

        def student(k: int, name: str) -> None:
            body = {"files": {f"{A}.ipynb": texts[k]}}
            go.wait()
            t0 = time.perf_counter()
            status, answer = _call(url, "POST", f"/api/assignments/{A}/submissions", toks[name],
                                   body)  # fmt: skip
            ack = time.perf_counter() - t0
            if status != 202:
                rows[name] = {"error": answer}
                return
            while True:
                _, sub = _call(url, "GET", f"/api/submissions/{answer['id']}", toks[name])
                if sub.get("feedback") or sub.get("state") in ("failed",):
                    break
                time.sleep(1.0)
            rows[name] = {
                "kind": KINDS[k % len(KINDS)],
                "ack_s": ack,
                "latency_s": time.perf_counter() - t0,
                "state": sub["state"],
                "score": sub.get("score"),
            }

        b0 = _usage(me)
        t_burst = time.perf_counter()
        threads = [threading.Thread(target=student, args=(k, s)) for k, s in enumerate(students)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t_burst
        b1 = _usage(me)
        stop.set()
        sampler.join()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
    lat = sorted(r["latency_s"] for r in rows.values() if "latency_s" in r)
    acks = sorted(r["ack_s"] for r in rows.values() if "ack_s" in r)
    return {
        "n": n,
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "graded": sum(r.get("state") == "graded" for r in rows.values()),
        "errors": [r["error"] for r in rows.values() if "error" in r],
        "p50_s": statistics.median(lat) if lat else None,
        "p95_s": lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))] if lat else None,
        "max_s": lat[-1] if lat else None,
        "ack_p50_s": statistics.median(acks) if acks else None,
        "ack_max_s": acks[-1] if acks else None,
        "wall_s": wall,
        "service_idle": idle,
        "service_under_load": {
            "cpu_percent": 100 * (b1["cpu_s"] - b0["cpu_s"]) / wall,
            "peak_rss_mb": peak["rss_mb"],
            "tree_peak_rss_mb": peak["tree_rss_mb"],
        },
        "students": rows,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", default="cpp_standalone", help="simulation backend")
    p.add_argument(
        "-n", type=int, nargs="+", default=[1, 10, 50], help="students at once (1 10 50)"
    )
    p.add_argument(
        "--answers",
        choices=("same", "distinct"),
        default="same",
        help="same: the three sample answers in turn (the result cache serves most: warm); "
        "distinct: each student's own (every submission builds and simulates: cold)",
    )
    p.add_argument("--jobs", type=int, default=2, help="the service's --jobs (default 2)")
    p.add_argument("--out", default=None, help="record file (default benchmarks/results/...)")
    args = p.parse_args(argv)
    distinct = args.answers == "distinct"
    name = f"serve_latency_{args.backend}{'_distinct' if distinct else ''}.json"
    out = Path(args.out or REPO / "benchmarks" / "results" / name)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    record = {
        "backend": args.backend,
        "jobs": args.jobs,
        "answers": args.answers,
        "result_cache": "on",
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "commit": commit,
        "load_before": os.getloadavg(),
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="serve-latency-") as tmp:
        for n in args.n:
            r = run_n(n, args.backend, args.jobs, Path(tmp), distinct)
            record["runs"].append(r)
            print(
                f"N={n:3d}: p50 {r['p50_s']:.1f} s, p95 {r['p95_s']:.1f} s, max {r['max_s']:.1f}"
                f" s; acknowledged in {r['ack_p50_s']:.2f} s (max {r['ack_max_s']:.2f} s); "
                f"{r['graded']}/{n} graded; load {r['load_before'][0]:.1f} -> "
                f"{r['load_after'][0]:.1f}; service idle {r['service_idle']['cpu_percent']:.1f}%"
                f" CPU {r['service_idle']['rss_mb']:.0f} MB, under load "
                f"{r['service_under_load']['cpu_percent']:.1f}% CPU "
                f"{r['service_under_load']['peak_rss_mb']:.0f} MB (with workers and kernels "
                f"{r['service_under_load']['tree_peak_rss_mb']:.0f} MB)",
                flush=True,
            )
    record["load_after"] = os.getloadavg()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"record: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
