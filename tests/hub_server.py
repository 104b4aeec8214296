"""A real JupyterHub for the service's identity tests, started by the test on loopback ports.

It needs ``jupyterhub`` (``pip install -c constraints.txt jupyterhub``, the ``jupyterhub`` extra)
and its proxy, ``configurable-http-proxy`` (``npm install -g configurable-http-proxy``);
:func:`missing` names what is not there, so that the tests are skipped saying so. The hub knows
two services: ``autograde`` (the grading service, an external one: the test starts
``autograde serve`` with the hub's variables) and ``maker``, which may make users' tokens for the
test and start their single-user servers. Users, and the tokens JupyterHub gives their
servers (``JUPYTERHUB_API_TOKEN``), may use the ``autograde`` service: its ``access:services``
scope is in the ``user`` and ``server`` roles, as the README's configuration grants it. A
server is JupyterHub's own ``jupyterhub-singleuser`` (``SimpleLocalProcessSpawner``), started
through a few lines that first leave its ``JUPYTERHUB_API_TOKEN`` in a file for the test.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from service_parts import free_port

SERVICE = "autograde"


def missing() -> str | None:
    """Why no hub can start here, or None."""
    if importlib.util.find_spec("jupyterhub") is None:
        return "jupyterhub is not installed (pip install -c constraints.txt jupyterhub)"
    if shutil.which("configurable-http-proxy") is None:
        return (
            "JupyterHub's proxy is not installed (npm install -g configurable-http-proxy, "
            "with Debian's nodejs and npm)"
        )
    return None


class Hub:
    """``jupyterhub`` in ``folder`` with ``users``, until :meth:`stop`."""

    def __init__(self, folder: Path, users: list[str]):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.hub_port, self.proxy_port, self.api_port = free_port(), free_port(), free_port()
        self.service_token = secrets.token_hex(32)
        self.maker_token = secrets.token_hex(32)
        config = {
            "users": users,
            "services": [
                {"name": SERVICE, "api_token": self.service_token},
                {"name": "maker", "api_token": self.maker_token},
            ],
            "roles": [
                {"name": "user", "scopes": ["self", f"access:services!service={SERVICE}"]},
                {
                    "name": "server",
                    "scopes": [
                        "users:activity!user",
                        "access:servers!server",
                        f"access:services!service={SERVICE}",
                    ],
                },
                {
                    "name": "maker",
                    "scopes": ["admin:users", "tokens", "admin:servers"],
                    "services": ["maker"],
                },
            ],
        }
        self.tokens = folder / "server-tokens"
        self.tokens.mkdir()
        (folder / "singleuser.py").write_text(
            "import os, pathlib, sys\n"
            f"pathlib.Path({str(self.tokens)!r}, os.environ['JUPYTERHUB_USER']).write_text("
            "os.environ['JUPYTERHUB_API_TOKEN'])\n"
            "os.execvp(sys.argv[1], sys.argv[1:])\n"
        )
        singleuser = str(Path(sys.executable).parent / "jupyterhub-singleuser")
        (folder / "jupyterhub_config.py").write_text(
            "import json\n"
            "c = get_config()  # noqa: F821\n"
            f"cfg = json.loads({json.dumps(config)!r})\n"
            "c.JupyterHub.ip = '127.0.0.1'\n"
            f"c.JupyterHub.port = {self.proxy_port}\n"
            "c.JupyterHub.hub_ip = '127.0.0.1'\n"
            f"c.JupyterHub.hub_port = {self.hub_port}\n"
            f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{self.api_port}'\n"
            "c.JupyterHub.authenticator_class = 'dummy'\n"
            "c.Authenticator.allowed_users = set(cfg['users'])\n"
            "c.JupyterHub.services = cfg['services']\n"
            "c.JupyterHub.load_roles = cfg['roles']\n"
            "c.JupyterHub.db_url = 'sqlite:///jupyterhub.sqlite'\n"
            "c.JupyterHub.spawner_class = 'simple'\n"
            f"c.Spawner.cmd = {[sys.executable, str(folder / 'singleuser.py'), singleuser]!r}\n"
            # jupyter_server refuses to run as root without it (a container's CI)
            + (f"c.Spawner.args = {['--allow-root']!r}\n" if os.geteuid() == 0 else "")
            + "c.Spawner.start_timeout = 120\n"
            "c.Spawner.http_timeout = 120\n"
        )
        self.log = folder / "jupyterhub.log"
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", "jupyterhub_config.py"],
                cwd=folder,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyterhub exited:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.api_url + "/", timeout=5):
                    return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"jupyterhub did not answer:\n{self.log.read_text()[-3000:]}")

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.hub_port}/hub/api"

    def service_env(self) -> dict[str, str]:
        """The variables the hub gives its service (as an external one is started with)."""
        return {
            "JUPYTERHUB_API_URL": self.api_url,
            "JUPYTERHUB_API_TOKEN": self.service_token,
            "JUPYTERHUB_SERVICE_NAME": SERVICE,
        }

    def user_token(self, user: str, scopes: list[str] | None = None) -> str:
        """A new API token of hub user ``user`` (made by the ``maker`` service)."""
        body = {"note": "autograde test"} | ({"scopes": scopes} if scopes is not None else {})
        req = urllib.request.Request(
            f"{self.api_url}/users/{user}/tokens", data=json.dumps(body).encode(), method="POST"
        )
        req.add_header("Authorization", f"token {self.maker_token}")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())["token"]

    def server_token(self, user: str, timeout: float = 180) -> str:
        """Start ``user``'s single-user server; the ``JUPYTERHUB_API_TOKEN`` it was given."""
        req = urllib.request.Request(f"{self.api_url}/users/{user}/server", method="POST")
        req.add_header("Authorization", f"token {self.maker_token}")
        urllib.request.urlopen(req, timeout=60).close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            path = self.tokens / user
            req = urllib.request.Request(f"{self.api_url}/users/{user}")
            req.add_header("Authorization", f"token {self.maker_token}")
            with urllib.request.urlopen(req, timeout=30) as resp:
                server = json.loads(resp.read()).get("servers", {}).get("", {})
            if server.get("ready") and path.is_file() and path.read_text():
                return path.read_text()  # the server runs, with this token
            time.sleep(0.5)
        raise RuntimeError(f"{user}'s server did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
