"""Where the time of one submission goes in ``autograde grade``: a rough breakdown.

Times, for the canonical right answer of each assignment: starting nbgrader (Python imports),
starting a kernel, each cell of the notebook in that kernel, and one build of the grading
network (:func:`graders.check` without cache, then with a warm ccache, then a cache hit)::

    python benchmarks/profile_submission.py --backend cpp_standalone
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import grade_class  # noqa: E402


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return round(time.perf_counter() - t0, 2)


def profile(assignment: str, backend: str) -> dict:
    import nbformat
    from jupyter_client.manager import start_new_kernel

    import graders

    out: dict = {}
    out["nbgrader_start_s"] = _time(
        lambda: subprocess.run(
            [sys.executable, "-m", "nbgrader", "--version"], capture_output=True, check=True
        )
    )
    klass = grade_class.class_of(assignment, 1)
    released = json.loads(
        (grade_class.REPO / "release" / assignment / f"{assignment}.ipynb").read_text()
    )
    nb = nbformat.reads(json.dumps(grade_class.submission(released, klass[0][2])), as_version=4)
    t0 = time.perf_counter()
    km, kc = start_new_kernel(kernel_name="python3", cwd=tempfile.mkdtemp())
    out["kernel_start_s"] = round(time.perf_counter() - t0, 2)
    cells = {}
    ns: dict = {}
    try:
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            gid = cell.metadata.get("nbgrader", {}).get("grade_id", "?")
            t0 = time.perf_counter()
            reply = kc.execute_interactive(cell.source, timeout=600, output_hook=lambda m: None)
            cells[gid] = round(time.perf_counter() - t0, 2)
            if reply["content"]["status"] != "ok":
                cells[gid + " (error)"] = reply["content"].get("ename")
        names = ["method", *grade_class.FIELDS[assignment]]
        spec_src = f"import json; print(json.dumps({{k: globals()[k] for k in {names!r}}}))"
        msgs = []
        kc.execute_interactive(spec_src, output_hook=msgs.append)
        text = "".join(m["content"].get("text", "") for m in msgs if m["msg_type"] == "stream")
        ns = json.loads(text)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    out["cells_s"] = cells
    out["notebook_total_s"] = round(sum(v for v in cells.values() if isinstance(v, float)), 2)
    with tempfile.TemporaryDirectory() as cache:
        out["build_cold_s"] = _time(
            lambda: graders.check(assignment, ns, backend, use_cache=False, cache_dir=cache)
        )
        out["build_ccache_warm_s"] = _time(
            lambda: graders.check(assignment, ns, backend, cache_dir=cache)
        )
        out["cache_hit_s"] = _time(lambda: graders.check(assignment, ns, backend, cache_dir=cache))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", default="cpp_standalone")
    p.add_argument("--assignments", nargs="+", default=list(grade_class.ASSIGNMENTS))
    args = p.parse_args(argv)
    rec = {a: profile(a, args.backend) for a in args.assignments}
    print(json.dumps(rec, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
