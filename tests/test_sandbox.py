"""Student code on the server: no root, no secrets, no scripts in the pages people open (issue 17).

A class of hostile notebooks is graded once by the real pipeline (``autograde grade``, runtime
backend) with secrets planted in the grader's environment and files; the tests read what the
graded notebooks and the feedback pages show. The simulation worker's sandbox is tested by
running the worker command itself on a planted job (a spec cannot express a file read: the
validation and Brian's parser refuse calls and attribute access, see
``test_a_spec_cannot_call_functions``).
"""

from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from autograde import demo
from autograde.course import load_status
from autograde.kernel import KERNEL_DEFAULTS, KERNEL_INHERITED, KERNEL_SETTINGS
from graders import sandbox, settings

REPO = Path(__file__).resolve().parent.parent
A = "adaptive_threshold"
SANDBOX = shutil.which("bwrap") is not None
CAP = sandbox.cap_method() if SANDBOX else ""
CAPPED = bool(CAP) and not CAP.startswith("NOT")
needs_bwrap = pytest.mark.skipif(not SANDBOX, reason="bubblewrap (bwrap) not installed")

#: Planted in the grader's environment; none may reach a student's kernel or the worker.
PLANTED = {
    "SECRET_TOKEN": "hunter2-planted-token",
    "PGPASSWORD": "s3cret-planted-pg",
    "AWS_SECRET_ACCESS_KEY": "planted-aws-key-0451",
}
#: What a kernel's environment may hold (its allow-lists); anything else is a leak.
KERNEL_KEYS = {"PATH", "HOME", "TMPDIR", "MPLCONFIGDIR", "USER", "LOGNAME", "PWD"}
KERNEL_KEYS |= set(sandbox.INHERITED_ENV) | set(KERNEL_INHERITED)
KERNEL_KEYS |= set(KERNEL_SETTINGS) | set(KERNEL_DEFAULTS)
# set inside the kernel by IPython and ipykernel themselves (fixed values, nothing of the grader)
KERNEL_KEYS |= {"TERM", "CLICOLOR", "CLICOLOR_FORCE", "FORCE_COLOR", "PAGER", "GIT_PAGER"}
KERNEL_KEYS |= {"PYDEVD_USE_FRAME_EVAL"}

# Reports who the kernel runs as, what of /etc and the grader's files it sees, and its
# environment, on one line the tests parse (the planted file's path is filled in).
ROOT_PROBE = """
import json as _j, os as _o, sys as _sys
def _read(p):
    try:
        with open(p) as f:
            return 'READ:' + f.read(200)
    except OSError as e:
        return type(e).__name__
_st = dict(l.split(':', 1) for l in open('/proc/self/status') if ':' in l)
print('PROBE ' + _j.dumps({
    'uid': _o.getuid(), 'euid': _o.geteuid(), 'gid': _o.getgid(),
    'cap_eff': _st['CapEff'].strip(), 'cap_prm': _st['CapPrm'].strip(),
    'shadow': _read('/etc/shadow'), 'gshadow': _read('/etc/gshadow'),
    'planted': _read(%(planted)r), 'etc': sorted(_o.listdir('/etc')),
    'hidden': [_o.listdir(p) for p in ('/usr/local/etc', _sys.prefix + '/etc/jupyter')
               if _o.path.isdir(p)],
    'env': dict(_o.environ),
}))
"""

# Everything a notebook can display that a browser might run.
XSS = """
from IPython.display import HTML, Javascript, SVG, Markdown, display
display(HTML('<p>XSS-TEXT-KEPT</p><script>alert("XSS-1")</script>'
             '<img src=x onerror="alert(\\'XSS-2\\')"><b onclick="alert(\\'XSS-3\\')">b</b>'
             '<a href="javascript:alert(\\'XSS-4\\')">link</a>'
             '<iframe srcdoc="<script>alert(\\'XSS-5\\')</script>"></iframe>'))
display(Javascript('alert("XSS-6")'))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(\\'XSS-7\\')"></svg>'))
display(Markdown('<script>alert("XSS-8")</script> md-text'))
display(Markdown('[md-link](javascript:alert("XSS-10")) ![x](http://evil.test/x.png)'))
HTML('<style>body{display:none}</style><script>alert("XSS-9")</script>')
"""

# Starts up to 2000 processes (a cheap /bin/sleep each) and reports how many it got, then
# cleans up: a bounded fork bomb.
FORK_BOMB = """
import os as _o, signal as _s
_kids = []
for _i in range(2000):
    try:
        _kids.append(_o.posix_spawn('/bin/sleep', ['sleep', '60'], {}))
    except OSError as _e:
        break
print('FORKS', len(_kids), flush=True)
for _p in _kids:
    _o.kill(_p, _s.SIGKILL)
    _o.waitpid(_p, 0)
"""


def _right(extra: str) -> tuple[str, str]:
    return ("right", extra)


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    """A class of hostile notebooks graded once, with secrets planted in env and files."""
    if not SANDBOX:
        pytest.skip("bubblewrap (bwrap) not installed: the sandbox cannot be tested")
    base = tmp_path_factory.mktemp("hostile")
    planted = base / "grader-secret.txt"
    planted.write_text("PLANTED-FILE-CONTENT")
    klass = {
        "alice": _right(""),
        "rooty": _right(ROOT_PROBE % {"planted": str(planted)}),
        "xavier": _right(XSS),
    }
    if CAPPED:  # where nothing caps processes a bounded bomb still starts 2000: leave it out
        klass["bomber"] = _right(FORK_BOMB)
    course = demo.make_course(base / "course", REPO, A, klass)
    env = dict(
        os.environ, **{settings.BACKEND_ENV: "runtime", settings.CACHE_ENV: str(base / "cache")}
    )
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(PLANTED)
    cmd = [sys.executable, "-m", "autograde", "grade", A, "--jobs", "2", "--timeout", "60"]
    cmd += ["--submission-timeout", "180", "--memory", "3000"]
    proc = subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    # the run says how student code was confined
    assert f"sandbox: kernels and simulations as uid {sandbox.SANDBOX_UID}" in proc.stdout
    assert f"processes: {CAP}" in proc.stdout

    def notebook(student: str) -> str:
        nb = json.loads((course / "autograded" / student / A / f"{A}.ipynb").read_text())
        return json.dumps([c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"])

    def page(student: str) -> str:
        return (course / "feedback" / student / A / f"{A}.html").read_text()

    return {"course": course, "notebook": notebook, "page": page, "klass": klass}


def _probe(text: str) -> dict:
    """The probe's JSON line, from a notebook's outputs (JSON) or a feedback page (HTML)."""
    import html

    m = re.search(r"PROBE (\{.*?\})(?:\\n|\n|</pre>|\")", text)
    assert m, "the probe printed nothing"
    raw = m.group(1)
    if '\\"' in raw:  # inside the notebook's JSON: one more level of quoting
        raw = json.loads(f'"{raw}"')
    return json.loads(html.unescape(raw))


@pytest.mark.nbgrader
@pytest.mark.slow
@needs_bwrap
def test_kernel_runs_unprivileged_without_shadow_or_grader_files(hostile_class):
    for shown in (hostile_class["notebook"]("rooty"), hostile_class["page"]("rooty")):
        probe = _probe(shown)
        assert probe["uid"] == probe["euid"] == sandbox.SANDBOX_UID != 0
        assert probe["gid"] == sandbox.SANDBOX_GID
        assert probe["cap_eff"] == probe["cap_prm"] == "0000000000000000"
        assert probe["shadow"] == probe["gshadow"] == "FileNotFoundError"
        assert probe["planted"] == "FileNotFoundError"
        assert not {"shadow", "gshadow", "ssl", "jupyter", "sudoers"} & set(probe["etc"])
        assert all(listing == [] for listing in probe["hidden"])  # configuration folders
        assert "PLANTED-FILE-CONTENT" not in shown
    # the probe's answer is still graded in full
    status = load_status(hostile_class["course"], A, "rooty")
    assert status.ok and status.score == status.max_score == 10


@pytest.mark.nbgrader
@pytest.mark.slow
@needs_bwrap
def test_kernel_environment_is_the_allow_list(hostile_class):
    probe = _probe(hostile_class["notebook"]("rooty"))
    assert set(probe["env"]) <= KERNEL_KEYS, set(probe["env"]) - KERNEL_KEYS
    assert probe["env"][settings.TRUSTED_ENV] == "1"
    for student in hostile_class["klass"]:
        for shown in (hostile_class["notebook"](student), hostile_class["page"](student)):
            for name, value in PLANTED.items():
                assert value not in shown, f"{name} reached {student}'s pages"


class _Live(html.parser.HTMLParser):
    """Scripts and event-handler attributes a browser would run."""

    def __init__(self):
        super().__init__()
        self.scripts, self.handlers, self.urls, self._in = [], [], [], False
        self.images = []  # what <img> tags would fetch when the page is opened

    def handle_starttag(self, tag, attrs):
        self._in = tag == "script"
        if tag == "img":
            self.images += [v or "" for k, v in attrs if k == "src"]
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append(f"{tag} {name}={value}")
            if name in ("href", "src") and (value or "").strip().lower().startswith("javascript"):
                self.urls.append(f"{tag} {name}={value}")
        if tag in ("iframe", "object", "embed"):
            self.handlers.append(tag)

    def handle_endtag(self, tag):
        self._in = False

    def handle_data(self, data):
        if self._in:
            self.scripts.append(data)


@pytest.mark.nbgrader
@pytest.mark.slow
@needs_bwrap
def test_student_scripts_are_inert_in_feedback_and_graded_notebook(hostile_class):
    page = hostile_class["page"]("xavier")
    live = _Live()
    live.feed(page)
    assert [s for s in live.scripts if "XSS" in s] == []
    assert live.handlers == [] and live.urls == []
    assert "XSS-TEXT-KEPT" in page and "md-text" in page  # the text survives, as text
    assert "md-link" in page and "evil.test" not in " ".join(live.images)  # nothing fetched
    # the grader's own plots are still there, one per check
    assert len(re.findall(r'<img alt="\w+: your traces', page)) == 5
    nb = json.loads(
        (hostile_class["course"] / "autograded" / "xavier" / A / f"{A}.ipynb").read_text()
    )
    kinds = {k for c in nb["cells"] for o in c.get("outputs", []) for k in o.get("data", {})}
    assert not kinds & {"application/javascript", "image/svg+xml"}
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            for key in ("text/html", "text/markdown"):
                if key in out.get("data", {}):
                    assert "<script" not in "".join(out["data"][key]).lower()
    status = load_status(hostile_class["course"], A, "xavier")
    assert status.score == 10


@pytest.mark.nbgrader
@pytest.mark.slow
@needs_bwrap
@pytest.mark.skipif(not CAPPED, reason=f"processes cannot be capped here: {CAP}")
def test_fork_bomb_is_capped(hostile_class):
    shown = hostile_class["notebook"]("bomber")
    m = re.search(r"FORKS (\d+)", shown)
    assert m, shown[-2000:]
    started = int(m.group(1))
    # the kernel's own threads count too, so somewhat fewer than the cap
    assert 20 < started < sandbox.MAX_PROCESSES
    assert f"FORKS {started}" in hostile_class["page"]("bomber")
    assert load_status(hostile_class["course"], A, "bomber").score == 10


# --- the simulation worker --------------------------------------------------------------------

# Planted in a job folder as json.py: `python -m graders.simulator JOBDIR` runs in JOBDIR, which
# is first on sys.path, so the worker imports it and runs it inside its sandbox.
WORKER_PROBE = """
import os, socket
def _read(p):
    try:
        with open(p) as f:
            return 'READ:' + f.read(100)
    except OSError as e:
        return type(e).__name__
def _write(p):
    try:
        with open(p, 'w') as f:
            f.write('x')
        return 'WROTE'
    except OSError as e:
        return type(e).__name__
def _net():
    try:
        socket.create_connection(('1.1.1.1', 53), timeout=2).close()
        return 'CONNECTED'
    except OSError as e:
        return type(e).__name__
st = dict(l.split(':', 1) for l in open('/proc/self/status') if ':' in l)
out = {'uid': os.getuid(), 'cap_eff': st['CapEff'].strip(), 'shadow': _read('/etc/shadow'),
       'planted': _read(%(planted)r), 'write_out': _write(%(outside)r),
       'write_repo': _write(%(repo)r), 'net': _net(), 'env': dict(os.environ),
       'home': os.environ.get('HOME'), 'cwd': os.getcwd()}
with open(os.path.join(os.getcwd(), 'probe.txt'), 'w') as f:
    f.write(repr(out))
raise SystemExit(7)
"""


@needs_bwrap
def test_simulator_sandbox_cannot_read_or_write_outside_its_job(tmp_path, monkeypatch):
    import ast

    from graders import harness
    from graders.job import Job

    for name, value in PLANTED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(settings.SANDBOX_ENV, "1")
    planted = tmp_path / "grader-secret.txt"
    planted.write_text("PLANTED-FILE-CONTENT")
    outside = tmp_path / "written-by-worker.txt"
    repo_file = REPO / "graders" / "written-by-worker.txt"
    jobdir = Path(tempfile.mkdtemp(prefix="graders-probe-"))
    try:
        args = {"planted": str(planted), "outside": str(outside), "repo": str(repo_file)}
        (jobdir / "json.py").write_text(WORKER_PROBE % args)
        job = Job(A, "runtime", [], spec={})
        with pytest.raises(harness.SimulationFailed):
            harness._run_simulator(jobdir, job, tmp_path / "cache", 60, 4096)
        probe_file = jobdir / "probe.txt"
        assert probe_file.is_file(), "the planted module did not run in the worker"
        probe = ast.literal_eval(probe_file.read_text())
    finally:
        shutil.rmtree(jobdir, ignore_errors=True)
    assert probe["uid"] == sandbox.SANDBOX_UID and probe["cap_eff"] == "0000000000000000"
    assert probe["shadow"] == "FileNotFoundError"
    assert probe["planted"] == "FileNotFoundError"
    assert probe["write_repo"] in ("OSError", "PermissionError")  # read-only
    assert not outside.exists() and not repo_file.exists()
    assert probe["net"] != "CONNECTED"
    assert probe["home"] == probe["cwd"] == str(jobdir)
    for value in PLANTED.values():
        assert value not in repr(probe["env"])


def test_a_spec_cannot_call_functions():
    """The most direct routes from a spec to a file read are refused before any build."""
    import graders

    spec = {
        "model": "dv/dt = (vr - v + I)/tau : volt (unless refractory)\n"
        "dvth/dt = (vth0 - vth)/tau_th : volt\nI : volt",
        "threshold": "v > vth",
        "reset": "v = vr\nvth += vth_inc",
        "method": "euler",
    }
    attempts = [
        ("threshold", "v > vth and open('/etc/hostname').read() != ''"),
        ("threshold", "v > vth and __import__('os').system('true') == 0"),
        ("threshold", "v.__class__ is not None"),
        ("reset", "v = vr\nvth += vth_inc\nexec('open(\"/etc/hostname\")')"),
        ("method", "x_new = x + dt*f(x,t) + 0*__import__('os').getpid()"),
    ]
    for field, value in attempts:
        with pytest.raises(graders.SpecError):
            graders.check(A, dict(spec, **{field: value}), "runtime", use_cache=False)


def test_sandbox_argv_names_no_host_etc_and_an_unprivileged_user(tmp_path):
    if not SANDBOX:
        pytest.skip("bubblewrap (bwrap) not installed")
    argv, fds = sandbox.bwrap_argv(["true"], home=str(tmp_path), chdir=str(tmp_path))
    for fd in fds:
        os.close(fd)
    joined = " ".join(argv)
    assert "--unshare-user" in argv and "--cap-drop ALL" in joined and "--new-session" in argv
    assert f"--uid {sandbox.SANDBOX_UID}" in joined and f"--gid {sandbox.SANDBOX_GID}" in joined
    binds = [argv[i + 1] for i, a in enumerate(argv) if a in ("--ro-bind", "--bind")]
    assert "/etc" not in binds  # never the host's whole /etc
    for secret in ("/etc/shadow", "/etc/gshadow", "/etc/ssl", "/etc/jupyter", "/etc/sudoers"):
        assert not [b for b in binds if b.startswith(secret)]
    if os.path.isdir("/usr/local/etc"):
        assert "--tmpfs /usr/local/etc" in joined


def test_simulator_sandbox_is_off_with_no_sandbox_and_required_with_it(monkeypatch):
    monkeypatch.setenv(settings.SANDBOX_ENV, "0")
    assert sandbox.wanted() is False
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    monkeypatch.setenv(settings.SANDBOX_ENV, "1")
    with pytest.raises(RuntimeError, match="--no-sandbox"):
        sandbox.wanted()
    monkeypatch.delenv(settings.SANDBOX_ENV)
    assert sandbox.wanted() is False  # auto: without bwrap the worker runs as before


def test_inert_outputs_cleans_student_outputs_when_run_as_nbgrader_runs_it():
    """Called as a chain calls it (``pp(nb, resources)``, which skips a disabled one)."""
    from nbformat.notebooknode import from_dict

    from autograde.preprocessors import InertOutputs

    rich = {
        "text/html": '<p>kept</p><script>alert("XSS")</script><b onclick="x()">b</b>',
        "application/javascript": "alert('XSS')",
        "image/svg+xml": "<svg onload='alert(1)'/>",
        "image/png": "iVBORw0KGgo=",
        "text/plain": "<HTML object>",
    }
    cells = [
        {"cell_type": "code", "source": "", "metadata": {}, "execution_count": 1, "outputs": []},
        {
            "cell_type": "markdown",
            "source": "<script>x()</script> mine [c](javascript:alert(1)) ![t](http://evil.test/p.png)",
            "metadata": {},
        },
        {
            "cell_type": "markdown",
            "source": "Task: `v > vth`",
            "metadata": {"nbgrader": {"locked": True, "grade_id": "task"}},
        },
    ]
    cells[0]["outputs"] = [
        {"output_type": "display_data", "metadata": {}, "data": rich},
        {"output_type": "stream", "name": "stdout", "text": "<script> printed as text\n"},
        {
            "output_type": "display_data",
            "metadata": {},
            "data": {"text/markdown": "md [c](javascript:alert(2)) ![t](http://evil.test/q.png)"},
        },
    ]
    nb = from_dict({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    nb, _ = InertOutputs()(nb, {})
    data = nb.cells[0].outputs[0].data
    assert set(data) == {"text/html", "image/png", "text/plain"}
    assert data["text/html"] == '<p>kept</p>&lt;script&gt;alert("XSS")&lt;/script&gt;<b>b</b>'
    assert data["image/png"] == rich["image/png"] and data["text/plain"] == rich["text/plain"]
    assert nb.cells[0].outputs[1].text == "<script> printed as text\n"  # escaped by exporters
    # Markdown's own link and image syntax: no javascript: target, no image fetched on opening
    md_cell, md_out = nb.cells[1].source, nb.cells[0].outputs[2].data
    assert set(md_out) == {"text/html"}
    for page in (md_cell, md_out["text/html"]):
        live = _Live()
        live.feed(page)
        assert live.scripts == [] and live.handlers == [] and live.urls == [], page
        assert "<img" not in page
    assert "&lt;script&gt;x()&lt;/script&gt; mine" in md_cell
    assert nb.cells[2].source == "Task: `v > vth`"  # the course's own cell, untouched


@needs_bwrap
@pytest.mark.skipif(not CAPPED, reason=f"processes cannot be capped here: {CAP}")
def test_process_cap_stops_a_fork_bomb_in_the_sandbox(tmp_path):
    """The worker's path (script in front of bwrap): 2000 processes asked, at most the cap."""
    code = FORK_BOMB  # the notebook's own bomb
    argv, fds = sandbox.bwrap_argv(
        [sys.executable, "-c", code], home=str(tmp_path), chdir=str(tmp_path), rw=[str(tmp_path)]
    )
    name = f"test-{os.getpid()}"
    try:
        proc = subprocess.run(
            sandbox.script_argv(name, argv),
            pass_fds=fds,
            env=sandbox.base_env(str(tmp_path), str(tmp_path)),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        for fd in fds:
            os.close(fd)
        sandbox.release(name)
    m = re.search(r"FORKS (\d+)", proc.stdout)
    assert m, proc.stdout + proc.stderr
    assert 100 < int(m.group(1)) < sandbox.MAX_PROCESSES


def test_without_a_cgroup_root_is_reported_uncapped(monkeypatch):
    monkeypatch.setattr(sandbox, "_cgroup_bases", lambda: [])
    method = sandbox.cap_method()
    if os.geteuid() == 0:  # the kernel exempts root from RLIMIT_NPROC: nothing caps it
        assert method.startswith("NOT capped")
    else:
        assert method.startswith("RLIMIT_NPROC")


@pytest.mark.skipif(not CAP.startswith("pids cgroup"), reason=f"no pids cgroup here: {CAP}")
def test_a_second_kernel_under_the_same_name_is_capped_too():
    """A submission's notebooks run one after another under one cap name; each is capped."""
    import multiprocessing

    name = f"test-reuse-{os.getpid()}"
    ctx = multiprocessing.get_context("spawn")
    try:
        for _ in range(2):  # the first one's cgroup is still there (released at the end)
            with ctx.Pool(1) as pool:
                assert pool.apply(sandbox.enter, (name,)).startswith("pids cgroup")
    finally:
        sandbox.release(name)


@needs_bwrap
def test_a_sandboxed_worker_killed_by_a_signal_is_reported_as_killed(tmp_path, monkeypatch):
    """bwrap turns a child's death by SIGKILL/SIGSEGV into exit status 128 + N."""
    from graders import harness
    from graders.job import Job

    monkeypatch.setenv(settings.SANDBOX_ENV, "1")
    jobdir = Path(tempfile.mkdtemp(prefix="graders-probe-"))
    try:
        (jobdir / "json.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
        job = Job(A, "runtime", [], spec={})
        with pytest.raises(harness.SimulationFailed) as info:
            harness._run_simulator(jobdir, job, tmp_path / "cache", 60, 4096)
    finally:
        shutil.rmtree(jobdir, ignore_errors=True)
    assert info.value.kind == "memory", info.value.message
    assert "was killed" in info.value.message
