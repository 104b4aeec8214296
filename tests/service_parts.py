"""The real parts of the grading service's tests: a course, ``autograde serve`` on a free loopback
port (a process group of its own, so that a test can kill -9 it), students as folders that run
nbgrader's own CLI with :mod:`autograde.exchange` configured, and a JSON client.

Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from autograde import demo
from graders import settings

REPO = Path(__file__).resolve().parent.parent
A = "adaptive_threshold"
SANDBOX = shutil.which("bwrap") is not None
COURSE_ID = "brian2genn-course"  # the repository's nbgrader_config.py


def env(cache: Path) -> dict:
    """The runtime backend and a private result cache, as the pipeline tests grade."""
    out = dict(os.environ, **{settings.BACKEND_ENV: "runtime", settings.CACHE_ENV: str(cache)})
    out["PATH"] = str(Path(sys.executable).parent) + os.pathsep + out.get("PATH", "")
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_course(
    folder: Path, policy: str, students: list[str], released=(A,), sources=()
) -> tuple[Path, dict[str, str], dict[str, Path]]:
    """A course with ``released`` assignments (source and release) and ``sources`` (source only),
    ``policy`` appended to its configuration, and a token for each of ``students`` made by
    ``autograde students import``. Returns the course, the tokens and the token files."""
    course = demo.make_course(folder, REPO, A, klass={})
    for a in released:
        if not (course / "source" / a).exists():
            shutil.copytree(REPO / "source" / a, course / "source" / a)
        shutil.copytree(REPO / "release" / a, course / "release" / a)
    for a in sources:
        shutil.copytree(REPO / "source" / A, course / "source" / a)
    with open(course / "nbgrader_config.py", "a") as f:
        f.write("\n" + policy + "\n")
    roster = folder.parent / f"{folder.name}-roster.csv"
    roster.write_text("id,name\n" + "".join(f"{s},{s.title()}\n" for s in students))
    out = subprocess.run(
        [sys.executable, "-m", "autograde", "students", "--course", str(course), "import",
         str(roster)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    files = {s: course / "autograde_service" / "handout" / f"{s}.token" for s in students}
    tokens = {s: p.read_text().strip() for s, p in files.items()}
    for s in students:
        assert tokens[s] in out.stdout  # shown once
    return course, tokens, files


class Server:
    """``autograde serve`` on a free loopback port, started and killed by the test."""

    def __init__(self, course: Path, environ: dict, log: Path):
        self.course, self.env, self.log = course, environ, log
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.instructor = ""

    def start(self, *extra: str, jobs: int = 2) -> Server:
        cmd = [sys.executable, "-m", "autograde", "serve", "--course", str(self.course)]
        cmd += ["--port", str(self.port), "--jobs", str(jobs), "--timeout", "20"]
        cmd += ["--submission-timeout", "120", "--memory", "3000", *extra]
        if not SANDBOX:
            cmd.append("--no-sandbox")
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"autograde serve exited:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/status", timeout=5):
                    break
            except OSError:
                time.sleep(0.3)
        else:
            raise RuntimeError(f"autograde serve did not answer:\n{self.log.read_text()[-3000:]}")
        token_file = self.course / "autograde_service" / "instructor.token"
        self.instructor = token_file.read_text().strip()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """kill -9 of the service and everything it started (a crash of the machine's side)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def call(self, method: str, path: str, token: str | None = None, body=None, raw=None):
        """``(status, json answer)`` of one request."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def submissions(self) -> list[dict]:
        status, answer = self.call("GET", "/api/instructor/submissions", self.instructor)
        assert status == 200, answer
        return answer["submissions"]

    def wait_until(self, done, timeout: float, what: str) -> list[dict]:
        """Poll the instructor's list until ``done(rows)``; fail with the log after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.submissions()
            if done(rows):
                return rows
            if self.proc.poll() is not None:
                break
            time.sleep(1.0)
        raise AssertionError(f"{what} did not happen; log:\n{self.log.read_text()[-4000:]}")


def student_folder(base: Path, name: str, server: Server, token_file: Path) -> Path:
    """A student's own folder: nbgrader configured with the HTTP exchange, nothing shared."""
    folder = base / name
    folder.mkdir(parents=True)
    (folder / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        'c.ExchangeFactory.fetch_assignment = "autograde.exchange.ExchangeFetchAssignment"\n'
        'c.ExchangeFactory.submit = "autograde.exchange.ExchangeSubmit"\n'
        'c.ExchangeFactory.fetch_feedback = "autograde.exchange.ExchangeFetchFeedback"\n'
        'c.ExchangeFactory.list = "autograde.exchange.ExchangeList"\n'
        f"c.AutogradeExchange.url = {server.url!r}\n"
        f"c.AutogradeExchange.token_file = {str(token_file)!r}\n"
    )
    return folder


def nbgrader(folder: Path, *args: str, environ: dict) -> subprocess.CompletedProcess:
    """nbgrader's own command line, run in a student's folder."""
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=folder,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
    )


def answer(kind: str, extra: str = "", released: Path | None = None) -> str:
    """The released notebook of the assignment with a sample answer of ``kind``, as text."""
    nb = json.loads((released or REPO / "release" / A / f"{A}.ipynb").read_text())
    return json.dumps(demo.answer_notebook(nb, kind, extra, demo.sample_answers(A)))
