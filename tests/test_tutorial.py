"""The practice tutorial (``source/tutorial``) runs top to bottom and its release hides solutions.

The source notebook, with its solutions in place, is executed in a fresh kernel of this
interpreter: on Brian2's runtime target (numpy) everywhere, and with its GeNN cells on GeNN's
CPU backend where GeNN 4.9 is installed (``TUTORIAL_BACKEND=genn-cpu``). Every self-check cell must
print its "Self-check passed" line. The released notebook must contain no solution line.
"""

from __future__ import annotations

import ast
import os
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source" / "tutorial" / "tutorial.ipynb"
RELEASE = ROOT / "release" / "tutorial" / "tutorial.ipynb"
PASSED = "Self-check passed"


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _solution_lines(nb) -> list[str]:
    out, inside = [], False
    for cell in nb.cells:
        if not _meta(cell).get("solution"):
            continue
        for line in cell.source.splitlines():
            if "BEGIN SOLUTION" in line:
                inside = True
            elif "END SOLUTION" in line:
                inside = False
            elif inside and line.strip() and not line.strip().startswith("#"):
                out.append(line)
    return out


def _execute(tmp_path: Path, backend: str, timeout: int):
    """Run the source notebook in a python3 kernel of this interpreter; return it executed."""
    from nbclient import NotebookClient

    nb = nbformat.read(SOURCE, as_version=4)
    env = {
        "MPLBACKEND": "Agg",
        "TUTORIAL_BACKEND": backend,
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
    }
    old = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        client = NotebookClient(
            nb,
            kernel_name="python3",
            timeout=timeout,
            allow_errors=True,
            resources={"metadata": {"path": str(tmp_path)}},
        )
        start = time.monotonic()
        client.execute()
        elapsed = time.monotonic() - start
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    print(f"tutorial on {backend}: {elapsed:.0f} s")
    return nb


def _text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            parts.append(str(out.get("data", {}).get("text/plain", "")))
    return "".join(parts)


def _assert_ran_cleanly(nb) -> str:
    errors = [
        f"{_meta(cell).get('grade_id')}: {out.ename}: {out.evalue}"
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]
    assert errors == []
    checks = [cell for cell in nb.cells if _meta(cell).get("grade")]
    assert checks, "the tutorial has no self-check cells"
    for cell in checks:
        assert PASSED in _text(cell), f"{_meta(cell)['grade_id']} did not pass: {_text(cell)!r}"
    return "\n".join(_text(cell) for cell in nb.cells if cell.cell_type == "code")


def _genn_errors(nb) -> dict[str, str]:
    """The tutorial's ``GENN_ERRORS``: what each error cell prints on Brian2GeNN."""
    (cell,) = [c for c in nb.cells if _meta(c).get("grade_id") == "genn_error_helper"]
    for node in ast.parse(cell.source).body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "GENN_ERRORS":
            return ast.literal_eval(node.value)
    raise AssertionError("the tutorial defines no GENN_ERRORS")


@pytest.mark.slow
def test_tutorial_runs_on_the_runtime_target(tmp_path):
    nb = _execute(tmp_path, "runtime", timeout=300)
    text = _assert_ran_cleanly(nb)
    assert "GeNN cells run on the runtime target" in text
    assert "[genn-cpu]" not in text
    assert "brian2genn is not" not in text  # the course stack has brian2genn
    # the Brian2GeNN limits are demonstrated with their real errors even without GeNN
    for message in (
        "is not available for use with GeNN",
        "Multiple clocks are not supported",
        "Only a single run statement is supported",
        "Setting a seed is currently not supported",
        "does not support objects of type 'Subgroup'",
    ):
        assert message in text, message
    # what the tutorial says the error cells print (without brian2genn, and in its summary
    # table) is what they print with it
    (summary,) = [c for c in nb.cells if _meta(c).get("grade_id") == "summary"]
    errors = _genn_errors(nb)
    assert len(errors) == 6
    for name, message in errors.items():
        (cell,) = [c for c in nb.cells if f"genn_device_for_errors('{name}'" in c.source]
        assert _text(cell).rstrip().splitlines()[-1] == message, name
        assert f"`{message}`" in summary.source, f"the summary table lacks {message!r}"


@pytest.mark.slow
@pytest.mark.genn
def test_tutorial_genn_cells_run_on_genn_cpu(tmp_path):
    nb = _execute(tmp_path, "genn-cpu", timeout=600)
    text = _assert_ran_cleanly(nb)
    assert "GeNN cells run on GeNN (CPU backend)" in text
    # every cell marked "# GeNN cell" that runs a simulation prints "[genn-cpu] ..."
    genn_cells = [
        c
        for c in nb.cells
        if c.cell_type == "code" and c.source.startswith("# GeNN cell") and "run(" in c.source
    ]
    assert len(genn_cells) >= 10
    for cell in genn_cells:
        assert "[genn-cpu]" in _text(cell), f"{_meta(cell)['grade_id']} did not run on GeNN"


def test_tutorial_cells_have_nbgrader_metadata():
    nb = nbformat.read(SOURCE, as_version=4)
    ids = [_meta(cell).get("grade_id") for cell in nb.cells]
    assert all(ids) and len(ids) == len(set(ids)), "every cell needs a unique grade_id"
    for cell in nb.cells:
        meta = _meta(cell)
        assert meta["schema_version"] == 3
        if meta["solution"]:
            assert not meta["locked"] and not meta["grade"], meta["grade_id"]
            assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
        else:
            assert meta["locked"], meta["grade_id"]
        if meta["grade"]:
            assert meta["points"] in (0, 1), f"{meta['grade_id']}: practice checks count 0 or 1"
            assert "BEGIN HIDDEN TESTS" not in cell.source, "self-checks are visible"
    assert sum(1 for c in nb.cells if _meta(c)["solution"]) >= 5


def test_released_tutorial_has_no_solution_code():
    source = nbformat.read(SOURCE, as_version=4)
    release = nbformat.read(RELEASE, as_version=4)
    secrets = _solution_lines(source)
    assert secrets, "the tutorial has no solution lines"
    whole = _squash("\n".join(cell.source for cell in release.cells))
    leaked = [line.strip() for line in secrets if _squash(line) in whole]
    assert leaked == []
    assert "BEGIN SOLUTION" not in whole
    stubs = [c for c in release.cells if _meta(c).get("solution")]
    assert len(stubs) == sum(1 for c in source.cells if _meta(c).get("solution"))
    for cell in stubs:
        assert "raise NotImplementedError()" in cell.source, _meta(cell)["grade_id"]
    assert all(not cell.get("outputs") for cell in release.cells if cell.cell_type == "code")
