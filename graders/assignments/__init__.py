"""Registry of assignments by name."""

from __future__ import annotations

import importlib

from .base import Assignment

NAMES = ("adaptive_threshold", "ei_balance")


def get(name: str) -> Assignment:
    """The assignment called ``name``; a clear error for an unknown one."""
    if name not in NAMES:
        raise KeyError(f"unknown assignment {name!r}; known: {', '.join(NAMES)}")
    module = importlib.import_module(f"{__name__}.{name}")
    return module.ASSIGNMENT


def available() -> list[str]:
    out = []
    for n in NAMES:
        try:
            get(n)
        except (ImportError, AttributeError):
            continue
        out.append(n)
    return out
