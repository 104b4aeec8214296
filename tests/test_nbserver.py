"""One nbgrader process serves many submissions; a hung or dead one is replaced."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time

from autograde.nbserver import Server


def test_a_bad_job_is_an_answer_not_a_crash(tmp_path):
    server = Server()
    try:
        answer = server.autograde(tmp_path / "nowhere", "a", "s", dict(os.environ), timeout=120)
        assert answer["success"] is False and answer["error"]
        first = server.proc.pid
        again = server.autograde(tmp_path / "nowhere", "a", "s", dict(os.environ), timeout=120)
        assert again["success"] is False
        assert server.proc.pid == first, "the server should serve the second job too"
    finally:
        server.close()


def test_a_job_over_its_limit_kills_the_server_and_the_next_job_gets_a_new_one(tmp_path):
    server = Server()
    try:
        late = server.autograde(tmp_path, "a", "s", dict(os.environ), timeout=0.01)
        assert late["success"] is False and "did not finish within" in late["error"]
        assert server.proc is None
        answer = server.autograde(tmp_path / "nowhere", "a", "s", dict(os.environ), timeout=120)
        assert answer["success"] is False and "did not finish" not in answer["error"]
    finally:
        server.close()


def test_a_dead_server_is_replaced(tmp_path):
    server = Server()
    try:
        server.autograde(tmp_path / "nowhere", "a", "s", dict(os.environ), timeout=120)
        server.proc.kill()
        server.proc.wait()
        answer = server.autograde(tmp_path / "nowhere", "a", "s", dict(os.environ), timeout=120)
        assert answer["success"] is False  # a fresh server answered the job
        assert server.proc is not None and server.proc.poll() is None
    finally:
        server.close()


def test_a_server_whose_worker_was_killed_ends_itself():
    """A worker killed mid-job (kill -9) leaves its nbgrader server without a parent: the server
    ends (with what it started) instead of grading on for nobody until the job's time limit.

    A busy server reads no input, so the end of its input cannot tell it: here a sleeper keeps
    the input open, as a server in the middle of a notebook would not notice it closing.
    """
    start = (
        "import subprocess, sys, time\n"
        "from autograde.nbserver import Server\n"
        "p = Server()._start()\n"
        "s = subprocess.Popen(['sleep', '600'], pass_fds=[p.stdin.fileno()])\n"
        "print(p.pid, s.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", start], stdout=subprocess.PIPE, text=True)
    server, sleeper = map(int, worker.stdout.readline().split())
    assert _alive(server)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    deadline = time.monotonic() + 30  # the server's imports, then a check each second
    while _alive(server) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.kill(sleeper, signal.SIGKILL)
    assert not _alive(server), "the orphaned nbgrader server is still running"


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, reaped by init, counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_a_kernel_clients_garbage_never_hangs_the_server():
    """A ZeroMQ context and its socket in a reference cycle (as a kernel client left behind by
    a dead kernel): pyzmq's own finalizer waits forever for the socket inside the garbage
    collector; the server's keeps the context and ends it after the job."""
    code = (
        "import gc, sys, zmq\n"
        "from autograde import nbserver\n"
        "print('imported', flush=True)\n"
        "if sys.argv[1] == 'server':\n"
        "    nbserver._never_block_in_gc()\n"
        "class Client: pass\n"
        "c = Client()\n"
        "c.context = zmq.Context()\n"
        "c.socket = c.context.socket(zmq.PUSH)\n"
        "c.socket.connect('tcp://127.0.0.1:9')\n"
        "c.socket.send(b'unsent')\n"
        "c.me = c\n"
        "del c\n"
        "gc.collect()\n"
        "nbserver._reap_contexts()\n"
        "print('collected', flush=True)\n"
        "import os; os._exit(0)\n"  # the reaper's daemon thread may still wait on that socket
    )
    for mode, ends in (("server", True), ("pyzmq", False)):
        proc = subprocess.Popen(
            [sys.executable, "-W", "ignore", "-c", code, mode],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            # the imports (nbgrader's: seconds, many more on a loaded machine) are not what
            # may hang, so the time limits start after them: what ends takes under a second
            # (seconds on a loaded machine: 120 s is ample), what hangs is given 10 s to show it
            assert _line_within(proc, IMPORTS_S) == "imported\n", mode
            out, _ = proc.communicate(timeout=120 if ends else 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        assert ("collected" in out) is ends, (mode, out)


#: Seconds a child may take to import nbgrader before a test gives up on it.
IMPORTS_S = 600


def _line_within(proc: subprocess.Popen, seconds: float) -> str:
    """The next line of ``proc``'s output ("" at its end); TimeoutExpired after ``seconds``."""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout=seconds):
            raise subprocess.TimeoutExpired(proc.args, seconds)
    return proc.stdout.readline()
