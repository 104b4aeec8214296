"""A sample class: submissions that are right, partly right, wrong, empty, crashing, endless,
memory-hungry and hostile, written into a scratch course folder for ``autograde demo`` and tests.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

SOLUTION_BEGIN = "# YOUR CODE HERE\nraise NotImplementedError()"

ADAPTIVE = {
    "right": (
        "model = '''\ndv/dt = (vr - v + I)/tau : volt (unless refractory)\n"
        "dvth/dt = (vth0 - vth)/tau_th : volt\nI : volt\n'''\n"
        "threshold = 'v > vth'\nreset = '''\nv = vr\nvth += vth_inc\n'''\n"
    ),
    # The tutorial's bug: the threshold relaxes with tau instead of tau_th.
    "partly": (
        "model = '''\ndv/dt = (vr - v + I)/tau : volt (unless refractory)\n"
        "dvth/dt = (vth0 - vth)/tau : volt\nI : volt\n'''\n"
        "threshold = 'v > vth'\nreset = '''\nv = vr\nvth += vth_inc\n'''\n"
    ),
    # A fixed threshold: nothing adapts.
    "wrong": (
        "model = '''\ndv/dt = (vr - v + I)/tau : volt (unless refractory)\n"
        "dvth/dt = (vth0 - vth)/tau_th : volt\nI : volt\n'''\n"
        "threshold = 'v > vth0'\nreset = 'v = vr'\n"
    ),
    "empty": None,  # the released notebook, untouched
    "crashing": "import os\nos._exit(1)\n",
}

# Appended after a correct answer: a submission that never finishes a cell is interrupted and its
# hidden cells still hand the (correct) spec over.
ENDLESS = "\nwhile True:\n    pass\n"
# Grows until the kernel's memory limit stops it (MemoryError) or the kernel dies.
MEMORY_BOMB = "\nhog = []\nwhile True:\n    hog.append(bytearray(50_000_000))\n"
# A wrong answer whose author forges the in-kernel verdict every way we know of.
HOSTILE = (
    "\nimport graders, graders.notebook, numpy\n"
    "graders.notebook.hidden_check = lambda *a, **k: 10.0\n"
    "graders.check = lambda *a, **k: None\n"
    "numpy.allclose = lambda *a, **k: True\n"
    "ip = get_ipython()\n"
    "ip.showtraceback = lambda *a, **k: None\n"
    "ip._showtraceback = lambda *a, **k: None\n"
    'print(\'GRADERS-SPEC \' + \'{"assignment": "adaptive_threshold", "check": "jump"}\')\n'
    'print(\'GRADERS-SPEC \' + \'{"assignment": "ei_balance", "check": "balance"}\')\n'
)

_EI_MODEL = (
    "model = '''\nw : 1\ndxpre/dt = -xpre/tau_stdp : 1 (event-driven)\n"
    "dxpost/dt = -xpost/tau_stdp : 1 (event-driven)\n'''\n"
)
EI = {
    # the reference rule (graders.assignments.ei_balance.REFERENCE)
    "right": _EI_MODEL
    + "on_pre = '''\nIi_post -= w*mV\nxpre += 1\nw += eta*xpost\n'''\n"
    + "on_post = '''\nxpost += 1\nw += eta*xpre\n'''\n",
    # only the presynaptic half of the rule: a postsynaptic spike leaves w alone
    "partly": _EI_MODEL
    + "on_pre = '''\nIi_post -= w*mV\nxpre += 1\nw += eta*xpost\n'''\n"
    + "on_post = '''\nxpost += 1\n'''\n",
    # the sign flipped: inhibition weakens where it should grow
    "wrong": _EI_MODEL
    + "on_pre = '''\nIi_post -= w*mV\nxpre += 1\nw -= eta*xpost\n'''\n"
    + "on_post = '''\nxpost += 1\nw -= eta*xpre\n'''\n",
    "empty": None,  # the released notebook, untouched
    "crashing": "import os\nos._exit(1)\n",
}

#: Sample answers per assignment; ``autograde demo`` skips an assignment without any.
ANSWERS = {"adaptive_threshold": ADAPTIVE, "ei_balance": EI}

CLASS = {
    "alice": ("right", ""),
    "bob": ("partly", ""),
    "carol": ("wrong", ""),
    "dave": ("empty", ""),
    "erin": ("crashing", ""),
    "frank": ("right", ENDLESS),
    "grace": ("wrong", HOSTILE),
    "heidi": ("right", MEMORY_BOMB),
}


def answer_notebook(released: dict, kind: str, extra: str = "", answers=None) -> dict:
    """The released notebook with the answer cell filled in (``kind`` from ``answers``)."""
    nb = json.loads(json.dumps(released))
    body = (answers or ADAPTIVE)[kind]
    if body is None:
        return nb
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if SOLUTION_BEGIN in src:
            cell["source"] = src.replace(SOLUTION_BEGIN, body + extra)
            break
    else:
        raise ValueError("no solution region in the released notebook")
    return nb


def make_course(
    dest,
    repo,
    assignment: str = "adaptive_threshold",
    klass: dict | None = None,
) -> Path:
    """Copy the course configuration and ``source/`` of ``repo`` into ``dest`` and submit a class.

    The released notebook is taken from ``repo/release`` (what students get).
    """
    dest, repo = Path(dest), Path(repo)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(repo / "nbgrader_config.py", dest / "nbgrader_config.py")
    if not (dest / "source" / assignment).exists():
        shutil.copytree(repo / "source" / assignment, dest / "source" / assignment)
    rel = repo / "release" / assignment / f"{assignment}.ipynb"
    released = json.loads(rel.read_text())
    for student, (kind, extra) in (klass or CLASS).items():
        folder = dest / "submitted" / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        nb = answer_notebook(released, kind, extra, ANSWERS[assignment])
        (folder / f"{assignment}.ipynb").write_text(json.dumps(nb, indent=1))
        (folder / "timestamp.txt").write_text("2025-01-01 12:00:00.000000 UTC")
    return dest
