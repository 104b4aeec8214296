"""``autograde serve --demo``: a demo course that a newcomer opens in a browser within a minute.

Both assignments released (``adaptive_threshold``, ``ei_balance``: the repository's committed
``release/``, what ``nbgrader generate_assignment`` makes), the eight students of ``autograde
demo``'s class (:data:`autograde.demo.CLASS`) each with a token and a personal link
(:func:`autograde.service.tokens.personal_link`), the instructor's link, and a few of the sample
answers (right, partly right, wrong: :func:`autograde.demo.answer_notebook`) already submitted.
They are submitted the way a student's upload is, through :func:`autograde.service.intake.
check_files` and :meth:`autograde.service.store.Store.accept`, before the service starts; its
own graders then grade them as they grade any submission (no second grading path, no result
made up), so the first links opened show them waiting, being graded, then graded.

A folder that already holds a demo course (its :data:`MARKER`) is reused as it is: its
submissions and grades stay, nothing is submitted again, and every token is made anew (tokens are
stored hashed, so links can only be printed when they are made; the earlier links stop working).
"""

from __future__ import annotations

import datetime
import json
import shutil
import tempfile
from pathlib import Path

from .. import demo
from . import intake, tokens
from . import policy as policy_
from .app import TIMESTAMP
from .store import Store

#: The assignments the demo course releases.
ASSIGNMENTS = ("adaptive_threshold", "ei_balance")

#: The students, with links: ``autograde demo``'s class of eight.
STUDENTS = tuple(demo.CLASS)

#: What is already submitted when the service starts: (student, assignment, kind of answer).
SEEDED = (
    ("alice", "adaptive_threshold", "right"),
    ("bob", "adaptive_threshold", "partly"),
    ("carol", "adaptive_threshold", "wrong"),
    ("alice", "ei_balance", "right"),
    ("dave", "ei_balance", "partly"),
)

#: The file in ``autograde_service/`` that marks a folder as a demo course.
MARKER = "demo.json"

KIND_WORDS = {"right": "a right answer", "partly": "a partly right one", "wrong": "a wrong one"}

#: The repository: its ``nbgrader_config.py``, ``source/`` and ``release/``.
REPO = Path(__file__).resolve().parents[2]


class DemoError(RuntimeError):
    """The demo course cannot be made where asked (the message says what to do)."""


def link_base(host: str, port: int) -> str:
    """The service's address as a browser on this machine reaches it."""
    if host in ("0.0.0.0", "::", ""):  # every address: this machine's own reaches it
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def build(course: Path, repo: Path = REPO) -> None:
    """Copy the course's configuration, both assignments' ``source/`` and ``release/`` into
    ``course`` and submit :data:`SEEDED` through the service's intake and store."""
    course.mkdir(parents=True, exist_ok=True)
    shutil.copy(repo / "nbgrader_config.py", course / "nbgrader_config.py")
    for a in ASSIGNMENTS:
        for part in ("source", "release"):
            if not (repo / part / a).is_dir():
                raise DemoError(
                    f"{repo / part / a} is missing: run autograde serve --demo from a checkout "
                    "of the course repository (./dev setup)"
                )
            shutil.copytree(repo / part / a, course / part / a)
    store = Store(course)
    limit = policy_.load(course).submissions_per_hour
    for student, a, kind in SEEDED:
        released = json.loads((course / "release" / a / f"{a}.ipynb").read_text())
        nb = demo.answer_notebook(released, kind, "", demo.sample_answers(a))
        others = [x for x in ASSIGNMENTS if x != a]
        data = intake.check_files(course, a, {f"{a}.ipynb": json.dumps(nb, indent=1)}, others)
        stamp = datetime.datetime.now(datetime.UTC).strftime(TIMESTAMP)
        store.accept(student, a, data, stamp, limit)
    marker = {"students": list(STUDENTS), "seeded": [list(s) for s in SEEDED]}
    (store.root / MARKER).write_text(json.dumps(marker, indent=1) + "\n")


def prepare(folder: str | None, host: str, port: int) -> tuple[Path, list[str]]:
    """The demo course in ``folder`` (made, or reused) with fresh tokens; returns the course
    and the lines to print: where it is, what was submitted, and everyone's link.

    Raises
    ------
    DemoError
        ``folder`` holds something that is not a demo course.
    """
    if folder is None:
        course = Path(tempfile.mkdtemp(prefix="autograde-serve-demo-")).resolve()
    else:
        course = Path(folder).resolve()
    marker = course / "autograde_service" / MARKER
    made = not marker.is_file()
    if made:
        if course.exists() and (not course.is_dir() or any(course.iterdir())):
            raise DemoError(
                f"{course} is not empty and holds no demo course: pass --course with a new "
                "folder (or one an earlier autograde serve --demo made), or leave --course out "
                "for a new temporary folder"
            )
        build(course)
    store = Store(course)
    links = []
    for student in STUDENTS:
        token = tokens.issue(store, tokens.STUDENT, student)
        tokens.write_token_file(store.root / "handout", student, token)
        links.append((student, token))
    token = tokens.issue(store, tokens.INSTRUCTOR, "instructor")
    tokens.write_token_file(store.root, "instructor", token)
    links.insert(0, ("instructor", token))

    base = link_base(host, port)
    done = ", ".join(f"{s} {a} ({KIND_WORDS[k]})" for s, a, k in SEEDED)
    lines = [
        f"demo course: {course} ({'new' if made else 'reused, with its submissions'}; "
        f"serve it again with: autograde serve --demo --course {course})",
        f"released: {', '.join(ASSIGNMENTS)}. "
        + (
            f"Already submitted, graded by this service in a minute or two: {done}."
            if made
            else "Nothing submitted again; new links (the earlier ones no longer work)."
        ),
        "Open a link in a browser (the token in it is exchanged for a cookie at the first visit):",
    ]
    width = max(len(name) for name, _ in links)
    lines += [f"  {name:<{width}}  {tokens.personal_link(base, tok)}" for name, tok in links]
    lines.append(
        f"The same tokens are in {store.root / 'handout'} (students) and "
        f"{store.root / 'instructor.token'}, for nbgrader's exchange or any HTTP client."
    )
    return course, lines
