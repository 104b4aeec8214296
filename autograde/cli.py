"""``autograde``: a thin command line over :mod:`graders` and the grading pipeline."""

from __future__ import annotations

import argparse
import sys

from graders import backends


def cmd_backends(args) -> int:
    """Print every backend, where it was found, and the one that would be picked."""
    rows = backends.detect()
    width = max(len(b.name) for b in rows)
    for b in rows:
        state = "available" if b.available else "missing  "
        detail = b.where if b.available else b.reason
        print(f"{b.name:<{width}}  {state}  {detail}")
    gp = backends.genn_path()
    cp = backends.cuda_path()
    print(f"\nGENN_PATH: {gp or '(not set; genn-buildmodel.sh not on PATH)'}")
    print(f"CUDA:      {cp or '(CUDA_PATH not set; nvcc not on PATH)'}")
    print(f"compiler:  {backends.compiler() or '(none found)'}")
    try:
        chosen = backends.choose(args.backend)
    except backends.BackendUnavailable as err:
        print(f"\nerror: {err}", file=sys.stderr)
        return 1
    forced = args.backend or backends.os.environ.get(backends.ENV_VAR)
    how = (
        f"forced by {'--backend' if args.backend else backends.ENV_VAR}"
        if forced
        else "best available"
    )
    print(f"\nwould use: {chosen} ({how})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograde", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("backends", help="list simulation backends and the one that would be used")
    p.add_argument("--backend", default=None, help="check that this backend can be used")
    p.set_defaults(func=cmd_backends)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.func(args)
