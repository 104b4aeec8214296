"""Registry of assignments: every package in this folder is one assignment.

An assignment is a package ``graders/assignments/<name>/`` whose ``__init__.py`` registers one
:class:`~graders.assignments.base.Assignment` with :func:`~graders.assignments.base.register`
(see ``adaptive_threshold/`` for the layout: ``cases``, ``network``, ``checks``, ``plots``,
``answers``). The registry lists the packages here with :mod:`pkgutil` and imports one when it is
first asked for, so a new folder needs no edit anywhere else (``autograde new-assignment NAME``
writes one). Plain modules here (``base``, ``plotting``) are shared code, not assignments.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import REGISTRY, Assignment, register

__all__ = ["Assignment", "available", "get", "names", "register", "resolve"]


def names() -> list[str]:
    """The names of the assignment packages in this folder, sorted (none is imported)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg)


def get(name: str) -> Assignment:
    """The assignment called ``name``, its package imported on first use.

    Raises
    ------
    KeyError
        No package of that name, or its ``__init__.py`` registers no assignment of that name.
    """
    if name not in REGISTRY:
        known = names()
        if name not in known:
            raise KeyError(f"unknown assignment {name!r}; known: {', '.join(known)}")
        importlib.import_module(f"{__name__}.{name}")
        if name not in REGISTRY:
            raise KeyError(
                f"graders/assignments/{name}/__init__.py registers no assignment called {name!r}: "
                f"it must call register(...) with name={name!r}"
            )
    return REGISTRY[name]


def resolve(assignment: Assignment | str) -> Assignment:
    """``assignment`` itself, or the one of that name (:func:`get`): for the functions that
    take either, so that a caller that holds the object passes it on and nothing looks it up
    again."""
    return assignment if isinstance(assignment, Assignment) else get(assignment)


def available() -> list[str]:
    """The assignments that import here (a package whose import fails is left out)."""
    out = []
    for n in names():
        try:
            get(n)
        except (ImportError, AttributeError, KeyError):
            continue
        out.append(n)
    return out


def __getattr__(attr: str):
    # NAMES: the assignment names as a tuple, looked up afresh (kept for older callers).
    if attr == "NAMES":
        return tuple(names())
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
