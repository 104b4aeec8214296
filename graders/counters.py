"""Counts of builds and cache hits: per process, and across processes in a shared file.

Events are "build" (one answer's simulation started), "batch_build" (a batch of answers),
"hit" (a result found in the cache) and, from the pipeline, "submission_hit" (a whole
submission's stored result reused). The benchmark sets the variable
:data:`graders.settings.STATS_ENV` names and counts the lines every process appended.
"""

from __future__ import annotations

import json
import os

from . import settings

# Counts for this process; tests and the benchmark read them.
STATS = {"builds": 0, "cache_hits": 0}


def record_event(event: str, assignment: str, backend: str) -> None:
    """Count ``event`` ("build", "hit" or another) here and in the ``STATS_ENV`` file."""
    name = {"build": "builds", "hit": "cache_hits"}.get(event, event)
    STATS[name] = STATS.get(name, 0) + 1
    path = os.environ.get(settings.STATS_ENV)
    if not path:
        return
    line = json.dumps({"event": event, "assignment": assignment, "backend": backend})
    try:  # one short O_APPEND write per line: safe from parallel processes
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
    except OSError:
        pass
