"""Grading on a dask.distributed cluster (issue 14), with the real parts.

The class fixture and the kill test each start their own ``distributed.LocalCluster`` of two
worker *processes* (one thread each, behind dask's nanny, as ``dask worker --nthreads 1
--nworkers 2`` starts them), and grade a small class through ``autograde grade --scheduler
ADDRESS`` in a subprocess, on the runtime backend with private caches: the same per-cell
scores, check messages and feedback plots as the local process pool; jobs that carry no path
of the course folder and nothing of its gradebook URL (read from the scheduler's copy of each
task); a worker killed (SIGKILL) while it runs a job costs that job one run on another worker
and nothing else. They take about three minutes on two cores. Quick ones, without a cluster
or with in-process workers, check the errors of an unreachable scheduler and of workers that
cannot grade.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil
import pytest

distributed = pytest.importorskip(
    "distributed",
    reason="dask.distributed is not installed: grading on several machines is not tested here "
    "(./dev setup installs it from constraints.txt)",
)
import cloudpickle  # noqa: E402  (distributed's dependencies, after the skip)
from banks import (  # noqa: E402
    SANDBOX,
    SMALL_CLASS,
    feedback_images,
    grade_cmd,
    grade_env,
    gradebook_scores,
    hidden_cells,
)
from distributed.diagnostics.plugin import SchedulerPlugin  # noqa: E402

from autograde import cluster, demo  # noqa: E402
from autograde.course import load_status  # noqa: E402
from graders import settings  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
A = "adaptive_threshold"
CLASS = SMALL_CLASS
# In the course's gradebook URL (a SQLite file, so that the course grades as usual): a job that
# carried the URL, or the configuration line holding it, would carry this.
MARK = "SECRET-PW"


def _env(cache: Path) -> dict:
    return grade_env(cache)


def _grade_cmd(*extra: str) -> list[str]:
    return grade_cmd(A, *extra)


def _scores(course: Path) -> dict[str, dict[str, float]]:
    return gradebook_scores(course, A, hidden_cells(A))


_images = feedback_images


def cluster_test(fn):
    """The marks of a test that starts a cluster and grades through it."""
    for mark in (pytest.mark.distributed, pytest.mark.nbgrader, pytest.mark.slow):
        fn = mark(fn)
    return fn


def _course(dest: Path) -> Path:
    course = demo.make_course(dest, REPO, A, CLASS)
    db = course / f"gradebook-{MARK}.db"
    with (course / "nbgrader_config.py").open("a") as f:
        f.write(f'\nc.CourseDirectory.db_url = "sqlite:///{db}"\n')
    return course


class Recorder(SchedulerPlugin):
    """Runs in the scheduler (in this process): every task's pickled call, and where it ran."""

    def __init__(self):
        self.sent: dict[str, bytes] = {}  # key -> the task as the scheduler holds it, pickled
        self.done: dict[str, str] = {}  # key -> the worker that returned its result
        self.erred: list[str] = []

    def update_graph(self, scheduler, *, tasks, **kwargs):
        for key in tasks:
            self.sent[key] = cloudpickle.dumps(scheduler.tasks[key].run_spec)

    def transition(self, key, start, finish, *args, **kwargs):
        if start == "processing" and finish == "memory":
            self.done[key] = kwargs.get("worker")
        if finish == "erred":
            self.erred.append(key)


def _student(key: str) -> str:
    """The student of a job's dask key (``grade-ASSIGNMENT-STUDENT-HEX``)."""
    return key.removeprefix(f"grade-{A}-").rsplit("-", 1)[0]


def _cluster(worker_env: dict):
    """Two worker processes of one thread each; a scheduler as the README starts it (one rerun
    of a job whose worker died, then the job fails; one job per thread)."""
    return cluster.local_cluster(2, worker_env)


def _run(cmd, course, env, timeout=900):
    return subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True, timeout=timeout)


def _messages(course: Path) -> dict:
    """Per student and cell, the check message of the status file."""
    return {
        s: {gid: c["message"] for gid, c in load_status(course, A, s).checks[A].items()}
        for s in CLASS
    }


def _plots(course: Path) -> dict:
    return {s: _images((course / "feedback" / s / A / f"{A}.html").read_text()) for s in CLASS}


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class graded by the local pool (--jobs 2) and by a 2-worker cluster (--scheduler)."""
    base = tmp_path_factory.mktemp("distributed")
    local = _course(base / "local")
    proc = _run(_grade_cmd("--jobs", "2"), local, _env(base / "cache-local"))
    assert proc.returncode == 0, proc.stderr[-3000:]

    remote = _course(base / "remote")
    # --cache names a folder on the workers; the coordinator's own cache must stay untouched
    shared, own = base / "cache-shared", base / "cache-worker-own"
    env = _env(base / "cache-coordinator")
    recorder = Recorder()
    with _cluster({settings.BACKEND_ENV: "runtime", settings.CACHE_ENV: own}) as lc:
        lc.scheduler.add_plugin(recorder)
        cmd = _grade_cmd("--scheduler", lc.scheduler_address, "--cache", str(shared))
        proc_remote = _run(cmd, remote, env)
        address = lc.scheduler_address
    assert proc_remote.returncode == 0, proc_remote.stdout[-2000:] + proc_remote.stderr[-3000:]
    return {
        "base": base,
        "local": local,
        "remote": remote,
        "proc": proc_remote,
        "address": address,
        "recorder": recorder,
        "shared": shared,
        "own": own,
    }


@cluster_test
def test_cluster_grades_as_the_local_pool(graded):
    local, remote = graded["local"], graded["remote"]
    scores = _scores(remote)
    assert set(scores) == set(CLASS)
    assert scores == _scores(local)
    assert sum(scores["alice"].values()) == 10 and sum(scores["dave"].values()) == 0
    assert 0 < sum(scores["bob"].values()) < 10
    assert _messages(remote) == _messages(local)
    plots = _plots(remote)
    assert plots == _plots(local)
    assert plots["alice"] == ["reduction", "jump", "decay", "rest", "agreement"]
    for s in CLASS:
        status = load_status(remote, A, s)
        assert status.ok, status.error
        # the backend the workers were given (dave handed nothing over: nothing was simulated)
        assert status.backend == (None if s == "dave" else "runtime")
    out, err = graded["proc"].stdout, graded["proc"].stderr
    assert "wall time: " in out and f"with --scheduler {graded['address']}" in out
    assert f"grading on the dask scheduler at {graded['address']}: 2 workers" in err


@cluster_test
def test_cluster_jobs_ran_on_the_workers_with_their_cache(graded):
    """One job per student, each on a worker; --cache is a folder there, none on this machine."""
    rec = graded["recorder"]
    assert sorted(_student(k) for k in rec.done) == sorted(CLASS)
    assert len(set(rec.done.values())) >= 1 and rec.erred == []
    if SANDBOX:  # (without the sandbox no cache is read or written)
        assert _files(graded["shared"]), "the workers wrote no result cache in --cache"
    assert _files(graded["own"]) == [], "--cache was not used on the workers"
    assert _files(graded["base"] / "cache-coordinator") == []


@cluster_test
def test_jobs_carry_no_course_path_and_no_gradebook_url(graded):
    rec, course = graded["recorder"], graded["remote"]
    assert sorted(_student(k) for k in rec.sent) == sorted(CLASS)
    for key, payload in rec.sent.items():
        assert str(course).encode() not in payload, f"{key} carries the course folder's path"
        assert MARK.encode() not in payload, f"{key} carries the course's gradebook URL"


def _runs(tmp: Path) -> dict[str, set[str]]:
    """Per student, the temporary courses its jobs made (one per start, kept once finished)."""
    names = [p.name for p in tmp.glob("autograde-*") if p.is_dir()]
    return {s: {n for n in names if re.fullmatch(f"autograde-{s}-\\w+", n)} for s in CLASS}


@cluster_test
def test_killed_worker_costs_its_job_one_rerun_elsewhere(graded, tmp_path):
    """SIGKILL the worker process (not its nanny) mid-job: that job alone runs again."""

    def executing(dask_worker) -> list:  # run in a worker (nested: cloudpickle sends its code)
        return [ts.key for ts in dask_worker.state.executing]

    course = _course(tmp_path / "course")
    tmp = tmp_path / "worker-tmp"
    tmp.mkdir()
    worker_env = {
        settings.BACKEND_ENV: "runtime",
        settings.CACHE_ENV: graded["shared"],  # warm simulations: jobs are the notebooks' runs
        settings.NO_SUBMISSION_CACHE_ENV: "1",  # ... which every job really does
        settings.KEEP_TMP_ENV: "1",  # one folder per job started, to count the runs
        "TMPDIR": tmp,
    }
    recorder = Recorder()
    with _cluster(worker_env) as lc, distributed.Client(lc, set_as_default=False) as client:
        lc.scheduler.add_plugin(recorder)
        assert lc.scheduler.allowed_failures == 1  # as the README starts it
        assert lc.scheduler.WORKER_SATURATION == 1.0
        cmd = _grade_cmd("--scheduler", lc.scheduler_address)
        coordinator = subprocess.Popen(
            cmd,
            cwd=course,
            env=_env(tmp_path / "cache-coordinator"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        killed = None
        deadline = time.monotonic() + 600
        while killed is None and time.monotonic() < deadline and coordinator.poll() is None:
            for address, keys in client.run(executing).items():
                # a job well under way: its folder exists (it got past the cache lookup)
                if keys and _runs(tmp)[_student(keys[0])]:
                    pid = client.run(os.getpid, workers=[address])[address]
                    if client.run(executing, workers=[address])[address] == keys:
                        os.kill(pid, signal.SIGKILL)
                        killed = (address, keys[0], _runs(tmp)[_student(keys[0])])
                    break
            time.sleep(0.3)
        out, err = coordinator.communicate(timeout=900)
    _stop_leftovers(tmp)
    assert killed, "no job was seen running: nothing was killed"
    address, key, started = killed
    victim = _student(key)
    assert coordinator.returncode == 0, out[-2000:] + err[-3000:]
    assert _scores(course) == _scores(graded["local"])
    assert all(load_status(course, A, s).ok for s in CLASS)
    # the killed job ran once more, on another worker; no other job ran twice
    assert recorder.done[key] != address
    runs = _runs(tmp)
    assert all(len(runs[s]) == 1 for s in CLASS if s != victim), runs
    assert len(runs[victim]) == 1 and not runs[victim] & started, (runs, started)
    # (the killed run's folder, a copy of the submission, was swept by the next job there)
    assert recorder.erred == []


def _stop_leftovers(tmp: Path) -> None:
    """Kill what the killed worker left running (its nbgrader server finishes its job alone)."""
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("TMPDIR", "").startswith(str(tmp)):
                proc.kill()
        except psutil.Error:
            pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:{port}", "nonsense://somewhere"])
def test_unreachable_scheduler_is_a_clear_error(address):
    address = address.format(port=_free_port())
    t0 = time.monotonic()
    with pytest.raises(RuntimeError) as err:
        cluster.connect(address, timeout=2)
    assert time.monotonic() - t0 < 10
    msg = str(err.value)
    assert f"cannot reach a dask scheduler at {address} within 2 s" in msg
    assert "dask scheduler" in msg and f"dask worker {address} --nthreads 1" in msg


@pytest.mark.distributed
def test_connect_refuses_workers_that_cannot_grade():
    """Several threads in a worker, or a backend it lacks: an error naming the worker and fix."""
    quiet = {"dashboard_address": None, "silence_logs": logging.ERROR, "processes": False}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, **quiet) as lc:
        with pytest.raises(RuntimeError, match="one thread per dask worker process") as err:
            cluster.connect(lc.scheduler_address, sandboxed=False)
        assert "(2 threads)" in str(err.value) and "--nthreads 1 --nworkers N" in str(err.value)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, **quiet) as lc:
        address = lc.scheduler_address
        with pytest.raises(RuntimeError, match="these dask workers cannot grade") as err:
            cluster.connect(address, backend="no-such-backend", sandboxed=False)
        assert "unknown backend 'no-such-backend'" in str(err.value)
        conn = cluster.connect(address, backend="runtime", sandboxed=False)
        try:
            assert conn.describe() == (
                f"grading on the dask scheduler at {address}: 1 worker, backend runtime"
            )
            assert conn.notes == []  # same code, one backend
        finally:
            conn.close()


def test_a_job_the_scheduler_dropped_says_so():
    """A lost scheduler cancels every job: the failure says that and what to do, not nothing."""
    from concurrent.futures import CancelledError

    conn = cluster.Connection("tcp://10.0.0.1:8786", client=None, executor=None)
    why = conn.why(CancelledError())
    assert "dask scheduler at tcp://10.0.0.1:8786 was lost" in why and "run autograde grade" in why
    assert conn.why(OSError("disk full")) == "OSError: disk full"
