"""JupyterHub's own identity at the grading service, against a real JupyterHub started here.

The service runs as the hub's (external) service ``autograde``; a hub user's token that may
use it identifies the roster's student of the same name, through the service's API and through
nbgrader's CLI in a student's folder that has no token file, with the ``JUPYTERHUB_API_TOKEN``
that JupyterHub gave the student's own single-user server. Skipped, and named in the summary,
where jupyterhub or its proxy is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from service_parts import A, Server, env, free_port, make_course, nbgrader, student_folder

from graders import settings

pytestmark = [pytest.mark.slow, pytest.mark.jupyterhub]


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    import hub_server

    why = hub_server.missing()
    if why:
        pytest.skip(f"JupyterHub test: {why}")
    h = hub_server.Hub(tmp_path_factory.mktemp("hub"), ["ada", "bo", "eve"])
    yield h
    h.stop()


@pytest.fixture(scope="module")
def served(hub, tmp_path_factory):
    """The service on a course whose roster has ada and bo (not eve), as the hub's service."""
    tmp = tmp_path_factory.mktemp("hub-course")
    course, tokens, files = make_course(tmp / "course", "", ["ada", "bo"])
    environ = env(tmp / "cache") | hub.service_env()
    server = Server(course, environ, tmp / "serve.log").start("--hold")
    yield server, tmp
    server.stop()


def _get(server: Server, path: str, header: str) -> tuple[int, dict]:
    req = urllib.request.Request(server.url + path)
    req.add_header("Authorization", header)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_a_hub_token_that_may_use_the_service_is_the_rosters_student(hub, served):
    server, _ = served
    scope = ["access:services!service=autograde"]
    ada = hub.user_token("ada", scope)
    for scheme in ("token", "Bearer"):  # JupyterHub's spelling and the exchange's
        status, body = _get(server, "/api/assignments", f"{scheme} {ada}")
        assert status == 200 and [a["name"] for a in body["assignments"]] == [A], body
    status, body = _get(server, "/api/submissions", f"token {ada}")
    assert status == 200 and body["submissions"] == [], body
    # a token of ada's that only names her, a hub user not on the roster, a made-up token
    for token in (
        hub.user_token("ada", ["read:users:name!user"]),
        hub.user_token("eve", scope),
        "0123456789abcdef" * 4,
    ):
        status, body = _get(server, "/api/submissions", f"token {token}")
        assert status == 401 and "unknown or revoked token" in body["error"], body
    # the instructor's routes stay the instructor token's
    status, body = _get(server, "/api/instructor/submissions", f"token {ada}")
    assert status == 403 and "instructor" in body["error"], body


def test_nbgrader_on_a_single_user_server_submits_with_the_hubs_token(hub, served):
    server, tmp = served
    # the token JupyterHub gave bo's own server, as nbgrader there finds it
    bo, ada = hub.server_token("bo"), hub.user_token("ada", ["access:services!service=autograde"])
    folder = student_folder(tmp / "students", "bo", server, Path("unused"))
    config = folder / "nbgrader_config.py"  # no token file: the hub's token instead
    config.write_text(
        "\n".join(x for x in config.read_text().splitlines() if "token_file" not in x) + "\n"
    )
    environ = dict(os.environ, JUPYTERHUB_API_TOKEN=bo)
    environ.pop(settings.TOKEN_ENV, None)
    for step in (["fetch_assignment", A], ["submit", A]):
        out = nbgrader(folder, *step, environ=environ)
        assert out.returncode == 0, out.stdout + out.stderr
    rows = server.submissions()
    assert [(r["student"], r["state"]) for r in rows] == [("bo", "queued")], rows
    status, body = _get(server, f"/api/submissions/{rows[0]['id']}", f"token {bo}")
    assert status == 200 and body["student"] == "bo", body
    status, body = _get(server, f"/api/submissions/{rows[0]['id']}", f"token {ada}")
    assert status == 404, body  # ada cannot read bo's


def test_a_revoked_student_is_refused_with_the_hubs_token_too(hub, served):
    server, _ = served
    ada = hub.user_token("ada", ["access:services!service=autograde"])
    assert _get(server, "/api/submissions", f"token {ada}")[0] == 200
    subprocess.run(
        [sys.executable, "-m", "autograde", "students", "--course", str(server.course), "revoke",
         "ada"],
        check=True, capture_output=True,
    )  # fmt: skip
    status, body = _get(server, "/api/submissions", f"token {ada}")
    assert status == 401, body


def test_a_hub_that_does_not_answer_is_named(hub, tmp_path):
    from autograde.service.hub import HubIdentity
    from autograde.service.store import Refused, Store

    gone = HubIdentity(f"http://127.0.0.1:{free_port()}/hub/api", "x" * 32, "autograde")
    with pytest.raises(Refused) as err:
        gone.student(Store(tmp_path / "course"), "some-token")
    assert err.value.status == 503 and "did not answer" in err.value.message


def test_only_a_services_variables_turn_the_hubs_identity_on():
    pytest.importorskip("jupyterhub", reason="JupyterHub test: jupyterhub is not installed")
    from autograde.service.hub import from_environ

    hub = {"JUPYTERHUB_API_URL": "http://127.0.0.1:1/hub/api", "JUPYTERHUB_API_TOKEN": "t" * 32}
    assert from_environ({}) is None
    # a single-user server's variables: the user's token and scopes, no service name
    user = hub | {"JUPYTERHUB_OAUTH_ACCESS_SCOPES": '["access:servers!server=ada/"]'}
    assert from_environ(user) is None
    service = from_environ(hub | {"JUPYTERHUB_SERVICE_NAME": "autograde"})
    assert service is not None and service.scopes == {"access:services!service=autograde"}
