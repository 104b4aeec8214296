"""nbgrader's exchange over HTTP: students fetch, submit and get feedback from ``autograde serve``.

nbgrader's own ``fetch_assignment``, ``submit``, ``fetch_feedback`` and ``list`` (on the
command line and in JupyterLab's Assignments tab) use these classes once the student's
``nbgrader_config.py`` names them::

    c.ExchangeFactory.fetch_assignment = "autograde.exchange.ExchangeFetchAssignment"
    c.ExchangeFactory.submit = "autograde.exchange.ExchangeSubmit"
    c.ExchangeFactory.fetch_feedback = "autograde.exchange.ExchangeFetchFeedback"
    c.ExchangeFactory.list = "autograde.exchange.ExchangeList"
    c.AutogradeExchange.url = "https://grading.example.edu"
    c.AutogradeExchange.token_file = "~/.autograde-token"

and the instructor's (with the instructor's token) ``release_assignment``, ``collect`` and
``release_feedback`` (``ExchangeReleaseAssignment``, ``ExchangeCollect``,
``ExchangeReleaseFeedback``).

No shared filesystem: everything goes over HTTP(S) to the service (:mod:`autograde.service.app`),
with the student's token; the service decides who the student is (from the token, never from
``--student`` or the login name) and when a submission arrived. A refusal (a wrong notebook,
the hourly limit, a closed assignment) fails the command with the service's sentence, which
nbgrader prints and JupyterLab shows. Only the standard library, nbgrader and traitlets are
used here, so a student's server needs nothing else of this project's dependencies.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath

from nbgrader.exchange import abc
from nbgrader.utils import parse_utc
from traitlets import Bool, Float, Unicode

from graders.settings import SERVICE_URL_ENV, TOKEN_ENV

from .service.states import SubmissionState

#: The token JupyterHub gives a student's single-user server.
HUB_TOKEN_ENV = "JUPYTERHUB_API_TOKEN"


class AutogradeExchange(abc.Exchange):
    """What every class here shares: the service's address, the token, one HTTP call."""

    url = Unicode(
        "", help=f"address of the grading service (autograde serve); empty: ${SERVICE_URL_ENV}"
    ).tag(config=True)
    token = Unicode(
        "", help=f"your token; empty: token_file, else ${TOKEN_ENV}, else ${HUB_TOKEN_ENV}"
    ).tag(config=True)
    token_file = Unicode("", help="a file holding your token, as your instructor gave it").tag(
        config=True
    )
    request_timeout = Float(120.0, help="seconds to wait for the service's answer").tag(config=True)
    path_includes_course = Bool(
        False, help="put assignments in ./<course>/<assignment> rather than ./<assignment>"
    ).tag(config=True)

    def _base(self) -> str:
        url = (self.url or os.environ.get(SERVICE_URL_ENV, "")).rstrip("/")
        if not url:
            self.fail(
                "no grading service is configured: set c.AutogradeExchange.url in your "
                f"nbgrader_config.py (or {SERVICE_URL_ENV}) to the address your instructor gave"
            )
        return url

    def _token(self) -> str:
        if self.token:
            return self.token.strip()
        if self.token_file:
            path = Path(self.token_file).expanduser()
            try:
                return path.read_text().strip()
            except OSError as err:
                self.fail(f"cannot read your token file {path} ({err.strerror}): check the path")
        # on the course's JupyterHub, the single-user server's own token (autograde.service.hub)
        token = (os.environ.get(TOKEN_ENV) or os.environ.get(HUB_TOKEN_ENV) or "").strip()
        if not token:
            self.fail(
                "no token: set c.AutogradeExchange.token_file to the token file your instructor "
                f"gave you (or {TOKEN_ENV}; on the course's JupyterHub, {HUB_TOKEN_ENV})"
            )
        return token

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        """One request to the service; its JSON answer, or :meth:`fail` with its sentence."""
        url = self._base() + path
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self._token()}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.request_timeout) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            try:
                message = json.loads(err.read()).get("error") or err.reason
            except ValueError:
                message = err.reason
            self.fail(f"{message} (HTTP {err.code})")
        except (urllib.error.URLError, OSError) as err:
            why = getattr(err, "reason", err)
            self.fail(
                f"could not reach the grading service at {self._base()} ({why}): check "
                "c.AutogradeExchange.url and your network, or try again later"
            )

    def assignment_path(self, assignment: str) -> Path:
        root = (
            Path(self.coursedir.course_id, assignment)
            if self.path_includes_course
            else Path(assignment)
        )
        return Path(self.assignment_dir, root).resolve()

    def need_assignment(self) -> str:
        a = self.coursedir.assignment_id
        if not a:
            self.fail("name the assignment: nbgrader <command> ASSIGNMENT")
        return a

    def init_src(self):
        pass

    def init_dest(self):
        pass


def _quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


class ExchangeFetchAssignment(AutogradeExchange, abc.ExchangeFetchAssignment):
    """``nbgrader fetch_assignment A``: the released files of ``A`` into ``./A``."""

    def copy_files(self):
        a = self.need_assignment()
        dest = self.assignment_path(a)
        if dest.is_dir() and not self.replace_missing_files:
            self.fail(f"You already have a copy of the assignment in this directory: {a}")
        answer = self.call("GET", f"/api/assignments/{_quote(a)}")
        for rel, b64 in sorted(answer.get("files", {}).items()):
            parts = PurePosixPath(rel).parts
            if PurePosixPath(rel).is_absolute() or ".." in parts:
                self.fail(f"the service sent a file outside the assignment ({rel!r}): not written")
            target = dest.joinpath(*parts)
            if target.exists():
                continue  # replace_missing_files: only what is missing
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(base64.b64decode(b64))
        self.log.info("Fetched as: %s %s", self.coursedir.course_id, a)


class ExchangeSubmit(AutogradeExchange, abc.ExchangeSubmit):
    """``nbgrader submit A``: the notebooks of ``./A`` to the service, which queues them."""

    def copy_files(self):
        a = self.need_assignment()
        src = self.assignment_path(a)
        if not src.is_dir():
            self.fail(f"Assignment not found at: {src}")
        notebooks = {p.name: p.read_text() for p in sorted(src.glob("*.ipynb"))}
        if not notebooks:
            self.fail(f"no notebook in {src}: fetch the assignment first")
        answer = self.call(
            "POST", f"/api/assignments/{_quote(a)}/submissions", {"files": notebooks}
        )
        self.log.info(answer.get("message", "submitted"))
        self.log.info("Submitted as: %s %s %s", self.coursedir.course_id, a, answer["timestamp"])


class ExchangeFetchFeedback(AutogradeExchange, abc.ExchangeFetchFeedback):
    """``nbgrader fetch_feedback A``: the feedback of every graded submission of ``A``, into
    ``./A/feedback/<timestamp>/`` as nbgrader's own exchange writes it."""

    def copy_files(self):
        a = self.need_assignment()
        subs = self.call("GET", f"/api/submissions?assignment={_quote(a)}")["submissions"]
        if not subs:
            self.log.warning("No submission of %s to fetch feedback for: submit it first", a)
        for sub in subs:
            if not sub.get("feedback"):
                if sub["state"] != SubmissionState.REPLACED:
                    self.log.warning("Submission of %s: %s", sub["timestamp"], sub["message"])
                continue
            got = self.call("GET", f"/api/submissions/{_quote(sub['id'])}/feedback")
            folder = self.assignment_path(a) / "feedback" / sub["timestamp"]
            folder.mkdir(parents=True, exist_ok=True)
            for name, html in got["files"].items():
                if PurePosixPath(name).name != name:
                    self.fail(f"the service sent a feedback file with a path ({name!r})")
                (folder / name).write_text(html)
                self.log.info("Fetched feedback: %s (%s)", folder / name, sub["message"])


class ExchangeList(AutogradeExchange, abc.ExchangeList):
    """``nbgrader list`` (and JupyterLab's Assignments tab): released, fetched, submitted."""

    def copy_files(self):
        pass  # listing moves nothing; abc.ExchangeList.start then calls list_files

    def list_files(self):
        course = self.coursedir.course_id
        wanted = self.coursedir.assignment_id
        if self.inbound or self.cached:
            query = f"?assignment={_quote(wanted)}" if wanted else ""
            subs = self.call("GET", f"/api/submissions{query}")["submissions"]
            groups: dict[str, dict] = {}
            self.log.info("Submitted assignments:")
            for sub in subs:
                a = sub["assignment"]
                info = self._submitted(course, sub)
                self.log.info("%s %s %s %s (%s)", course, sub["student"], a, sub["timestamp"],
                              sub["message"])  # fmt: skip
                group = groups.setdefault(
                    a,
                    {"course_id": course, "student_id": sub["student"], "assignment_id": a,
                     "submissions": []},
                )  # fmt: skip
                group["submissions"].append(info)
            return list(groups.values())
        out = []
        self.log.info("Released assignments:")
        for row in self.call("GET", "/api/assignments")["assignments"]:
            a = row["name"]
            if wanted and a != wanted:
                continue
            here = self.assignment_path(a)
            fetched = here.is_dir()
            info = {
                "course_id": course,
                "assignment_id": a,
                "status": "fetched" if fetched else "released",
                "path": str(here) if fetched else "",
                "notebooks": [
                    {"notebook_id": p.stem, "path": str(p)} for p in sorted(here.glob("*.ipynb"))
                ],
            }
            self.log.info("%s %s%s", course, a, " (already downloaded)" if fetched else "")
            out.append(info)
        return out

    def _submitted(self, course: str, sub: dict) -> dict:
        local = self.assignment_path(sub["assignment"]) / "feedback" / sub["timestamp"]
        has_local = local.is_dir() and any(local.glob("*.html"))
        return {
            "course_id": course,
            "student_id": sub["student"],
            "assignment_id": sub["assignment"],
            "timestamp": sub["timestamp"],
            "status": "submitted",
            "path": "",
            "notebooks": [],
            "has_local_feedback": has_local,
            "has_exchange_feedback": bool(sub.get("feedback")),
            "feedback_updated": False,
            "local_feedback_path": str(local) if has_local else None,
        }

    def remove_files(self):
        self.fail("the grading service keeps every submission; nothing is removed")


class ExchangeReleaseAssignment(AutogradeExchange, abc.ExchangeReleaseAssignment):
    """The instructor's ``nbgrader release_assignment A``: ``release/A/`` to the service, which
    students then fetch (``--force`` replaces a release)."""

    def copy_files(self):
        a = self.need_assignment()
        src = Path(self.coursedir.format_path(self.coursedir.release_directory, ".", a))
        if not src.is_dir():
            self.fail(f"no {src}: run `autograde release {a}` (or nbgrader generate_assignment)")
        files = {
            p.relative_to(src).as_posix(): base64.b64encode(p.read_bytes()).decode()
            for p in sorted(src.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(src).parts)
        }
        body = {"files": files, "force": bool(self.force)}
        answer = self.call("POST", f"/api/instructor/assignments/{_quote(a)}/release", body)
        self.log.info("Released as: %s %s (%s)", self.coursedir.course_id, a, answer["message"])


class ExchangeCollect(AutogradeExchange, abc.ExchangeCollect):
    """The instructor's ``nbgrader collect A``: each student's latest submission into
    ``submitted/<student>/A/`` with the service's timestamp (``--update`` replaces older)."""

    def copy_files(self):
        a = self.need_assignment()
        if self.before_duedate:
            self.log.warning("--before-duedate is not supported here: collecting the latest")
        subs = self.call("GET", f"/api/instructor/assignments/{_quote(a)}/collect")
        if not subs["submissions"]:
            self.log.warning("No submissions of '%s' to collect", a)
        for sub in subs["submissions"]:
            student = sub["student"]
            dest = Path(self.coursedir.format_path(self.coursedir.submitted_directory, student, a))
            if dest.is_dir():
                old = self.coursedir.get_existing_timestamp(str(dest))  # nbgrader's parser
                if not self.update or (old is not None and old >= parse_utc(sub["timestamp"])):
                    self.log.info("Submission already exists, use --update to update: %s %s",
                                  student, a)  # fmt: skip
                    continue
            tmp = dest.with_name(f".{dest.name}.new")
            tmp.mkdir(parents=True, exist_ok=True)
            for name, b64 in sub["files"].items():
                if PurePosixPath(name).name != name:
                    self.fail(f"the service sent a file with a path ({name!r})")
                (tmp / name).write_bytes(base64.b64decode(b64))
            (tmp / "timestamp.txt").write_text(sub["timestamp"])
            if dest.exists():
                shutil.rmtree(dest)
            tmp.rename(dest)
            self.log.info("Collecting submission: %s %s (%s)", student, a, sub["message"])


class ExchangeReleaseFeedback(AutogradeExchange, abc.ExchangeReleaseFeedback):
    """The instructor's ``nbgrader release_feedback A``: nothing to do, said so."""

    def copy_files(self):
        self.log.info(
            "the grading service hands each submission's feedback to its student as soon as it "
            "is graded: nothing to release"
        )
