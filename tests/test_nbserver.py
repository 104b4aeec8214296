"""One nbgrader process serves many submissions; a hung or dead one is replaced."""

from __future__ import annotations

import os

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
