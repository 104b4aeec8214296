"""A sample class: submissions that are right, partly right, wrong, empty, crashing, endless,
memory-hungry and hostile, written into a scratch course folder for ``autograde demo`` and tests.

The right, partly right and wrong answers are each assignment's own (``answers.py`` in its
package, found through :mod:`graders.assignments`); what makes a submission empty, crashing,
endless, memory-hungry or hostile is the same for every assignment and lives here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from graders.assignments import get

SOLUTION_BEGIN = "# YOUR CODE HERE\nraise NotImplementedError()"

#: Kinds of answer every assignment has: the released notebook untouched, and a kernel that
#: exits. The others ("right", "partly", "wrong") are each assignment's own sample answers
#: (``graders/assignments/<name>/answers.py``), found through the registry.
GENERIC = {"empty": None, "crashing": "import os\nos._exit(1)\n"}

# Appended after a correct answer: a submission that never finishes a cell is interrupted and its
# hidden cells still hand the (correct) spec over.
ENDLESS = "\nwhile True:\n    pass\n"
# Grows until the kernel's memory limit stops it with a MemoryError and keeps what it took; the
# cells after it still run (the kernel gets its held-back reserve) and hand the spec over.
MEMORY_BOMB = "\nhog = []\nwhile True:\n    hog.append(bytearray(50_000_000))\n"
# Starts processes until the kernel's process cap refuses one (BlockingIOError) and keeps them;
# the hidden cells still hand the spec over.
PROCESS_HOG = (
    "\nimport subprocess\nprocs = [subprocess.Popen(['sleep', '600']) for _ in range(300)]\n"
)
# Blocks the kernel's output thread: the cell's reply comes, its outputs never do. The kernel
# counts as no longer answering and the rest of the notebook is not run.
OUTPUT_BLOCK = (
    "\nimport time\nget_ipython().kernel.iopub_thread.io_loop.add_callback(time.sleep, 3600)\n"
)
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


def sample_answers(assignment: str) -> dict[str, str | None]:
    """Answer cells by kind for ``assignment``: its own sample answers and :data:`GENERIC`."""
    return {**GENERIC, **get(assignment).answers}


def answer_notebook(released: dict, kind: str, extra: str = "", answers=None) -> dict:
    """The released notebook with the answer cell filled in (``kind`` from ``answers``).

    Raises
    ------
    KeyError
        ``answers`` has no answer of that kind.
    """
    nb = json.loads(json.dumps(released))
    answers = GENERIC if answers is None else answers
    if kind not in answers:
        raise KeyError(
            f"no sample answer of kind {kind!r} (known: {', '.join(answers)}); add it to the "
            "assignment's answers.py"
        )
    body = answers[kind]
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
    answers = sample_answers(assignment)
    for student, (kind, extra) in (CLASS if klass is None else klass).items():
        folder = dest / "submitted" / student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        nb = answer_notebook(released, kind, extra, answers)
        (folder / f"{assignment}.ipynb").write_text(json.dumps(nb, indent=1))
        (folder / "timestamp.txt").write_text("2025-01-01 12:00:00.000000 UTC")
    return dest
