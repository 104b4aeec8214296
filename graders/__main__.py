"""``python -m graders check ASSIGNMENT SPEC.json [--backend B]``: the verdict as JSON.

Exit status: 0 when the spec was graded (passing or not), 2 for an invalid spec or unreadable
input, 1 when grading could not run here (e.g. a forced backend is not installed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import check, settings
from .assignments import NAMES, get
from .backends import BACKENDS, BackendUnavailable
from .results import Problem, SpecError


def _emit(obj: dict) -> None:
    print(json.dumps(obj, indent=2))


def _read_spec(path: str):
    text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    return json.loads(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m graders", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="grade one answer spec and print the verdict as JSON")
    p.add_argument("assignment", choices=NAMES)
    p.add_argument("spec", help="path to the spec JSON file, or - for standard input")
    p.add_argument("--backend", choices=[*BACKENDS, "auto"], default=None)
    settings.add_option(p, "simulation_timeout", "--timeout")
    settings.add_option(p, "memory_mb", "--memory")
    p.add_argument("--no-cache", action="store_true", help="always build and run")
    p.add_argument("--keep-build", default=None, help="copy the build folder here")
    p.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run the simulation process without bubblewrap (by default it is sandboxed where "
        f"bwrap is installed; {settings.SANDBOX_ENV}=1 requires it)",
    )
    args = parser.parse_args(argv)
    if args.no_sandbox:
        os.environ[settings.SANDBOX_ENV] = "0"
    assignment = get(args.assignment)  # the name enters here; the object is passed on

    try:
        spec = _read_spec(args.spec)
    except OSError as err:
        msg = f"cannot read {args.spec}: {err.strerror}; check the path (- reads standard input)"
        _emit(SpecError([Problem("spec", "unreadable", msg)]).to_json())
        return 2
    except UnicodeDecodeError as err:
        msg = f"{args.spec} is not UTF-8 text ({err.reason}); save the spec as UTF-8 JSON"
        _emit(SpecError([Problem("spec", "unreadable", msg)]).to_json())
        return 2
    except json.JSONDecodeError as err:
        if not err.doc.strip():
            fields = ", ".join(f'"{f.name}": "..."' for f in assignment.fields)
            msg = f"{args.spec} is empty; write the answer as a JSON object: {{{fields}}}"
        else:
            msg = (
                f"{args.spec} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}"
            )
        _emit(SpecError([Problem("spec", "json", msg)]).to_json())
        return 2
    try:
        verdict = check(
            assignment,
            spec,
            args.backend,
            timeout=args.simulation_timeout,
            memory_mb=args.memory_mb,
            use_cache=not args.no_cache,
            keep_build=args.keep_build,
        )
    except SpecError as err:
        _emit(err.to_json())
        return 2
    except BackendUnavailable as err:
        _emit({"error": "backend unavailable", "message": str(err)})
        return 1
    except RuntimeError as err:  # the sandbox is required and bwrap is missing
        _emit({"error": "no sandbox", "message": str(err)})
        return 1
    _emit(verdict.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
