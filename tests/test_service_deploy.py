"""The README's deployment of the grading service, run for real: its nginx TLS reverse proxy in
front of ``autograde serve`` (a self-signed certificate; a student submits through https with
nbgrader's CLI; an upload over the course's cap gets the service's own sentence through the
proxy) and its systemd unit (``systemd-analyze verify``). The configurations are read from the
README, so that what it shows is what ran. Skipped, saying why, where nginx, openssl or
systemd-analyze is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from service_parts import A, Server, answer, env, free_port, make_course, nbgrader, student_folder

REPO = Path(__file__).resolve().parent.parent
SECTION = "### Running it for a course"


def _readme_block(lang: str) -> str:
    """The first ``lang`` code block of the README's section on running the service."""
    text = (REPO / "README.md").read_text()
    section = text[text.index(SECTION) :]
    m = re.search(rf"```{lang}\n(.*?)```", section, re.S)
    assert m, f"README's {SECTION!r} has no {lang} block"
    return m.group(1)


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")


def _sub(pattern: str, repl: str, text: str) -> str:
    out, n = re.subn(pattern, repl, text)
    assert n == 1, f"the README's block no longer has {pattern!r}"
    return out


def _nginx_conf(folder: Path, port: int, service_url: str, cert: Path, key: Path) -> Path:
    server = _readme_block("nginx")
    server = _sub(r"listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;", server)
    server = _sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", server)
    server = _sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", server)
    server = _sub(r"http://127\.0\.0\.1:8800", service_url, server)
    temp = "".join(
        f"    {k}_temp_path {folder / k};\n"
        for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = folder / "nginx.conf"
    conf.write_text(
        # as root, nginx's workers would be nobody, who cannot write in the test's folder
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"daemon off;\nworker_processes 1;\npid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'};\nevents {{}}\nhttp {{\n"
        f"    access_log {folder / 'access.log'};\n{temp}{server}}}\n"
    )
    return conf


@pytest.mark.slow
@pytest.mark.nbgrader
def test_a_student_submits_through_the_readmes_nginx_tls_proxy(tmp_path):
    nginx, openssl = _which("nginx"), _which("openssl")
    if not (nginx and openssl):
        pytest.skip("TLS proxy test: nginx or openssl is missing (apt-get install nginx-light)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
         "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
         "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    course, tokens, files = make_course(tmp_path / "course", "", ["ada"])
    server = Server(course, env(tmp_path / "cache"), tmp_path / "serve.log").start("--hold")
    port = free_port()
    conf = _nginx_conf(tmp_path, port, server.url, cert, key)
    proxy = subprocess.Popen(
        [nginx, "-c", str(conf), "-p", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                break
            except OSError:
                err = (
                    (tmp_path / "error.log").read_text()
                    if (tmp_path / "error.log").exists()
                    else ""
                )
                if proxy.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"nginx did not start:\n{err}") from None
                time.sleep(0.2)
        https = f"https://127.0.0.1:{port}"
        folder = student_folder(tmp_path / "students", "ada", server, files["ada"])
        config = folder / "nbgrader_config.py"
        config.write_text(config.read_text().replace(repr(server.url), repr(https)))
        environ = dict(os.environ, SSL_CERT_FILE=str(cert))  # the self-signed certificate
        for step in (["fetch_assignment", A], ["submit", A]):
            out = nbgrader(folder, *step, environ=environ)
            assert out.returncode == 0, out.stdout + out.stderr
        assert "received adaptive_threshold" in out.stdout + out.stderr
        rows = server.submissions()
        assert [(r["student"], r["state"]) for r in rows] == [("ada", "queued")], rows
        assert f"POST /api/assignments/{A}/submissions" in (tmp_path / "access.log").read_text()
        # over the course's 5 MB but under nginx's 20m: the service's sentence comes through
        big = json.dumps({"files": {f"{A}.ipynb": answer("right") + " " * 5_200_000}}).encode()
        req = urllib.request.Request(
            f"{https}/api/assignments/{A}/submissions", data=big, method="POST"
        )
        req.add_header("Authorization", f"Bearer {tokens['ada']}")
        ctx = ssl.create_default_context(cafile=str(cert))
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=120, context=ctx)
        assert err.value.code == 413
        assert "larger than this course's 5 MB" in json.loads(err.value.read())["error"]
        assert len(server.submissions()) == 1
    finally:
        if proxy.poll() is None:
            os.killpg(proxy.pid, signal.SIGTERM)
            proxy.wait(timeout=30)
        server.stop()


def test_the_readmes_systemd_unit_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd unit test: systemd-analyze is missing (Debian's systemd package)")
    unit = _readme_block("ini")
    # the README's venv is /srv/autograder/.venv: here, this one's autograde
    program = Path(sys.executable).parent / "autograde"
    assert program.exists(), program
    unit = _sub(r"/srv/autograder/\.venv/bin/autograde", str(program), unit)
    path = tmp_path / "autograde.service"
    path.write_text(unit)
    out = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True)
    assert out.returncode == 0 and "autograde.service" not in out.stdout + out.stderr, (
        out.stdout + out.stderr
    )
