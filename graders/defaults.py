"""The harness's defaults and the environment variables it reads, each declared once.

:mod:`graders.harness`, :mod:`graders.cache` and :mod:`graders.counters` import them from here
(and nowhere declares them again), so a settings module can take them over in one place.
"""

from __future__ import annotations

#: Wall-clock seconds one simulation (Python start, build and run) may take.
DEFAULT_TIMEOUT_S = 300.0
#: MB of resident memory one simulation's process tree may use (:mod:`graders.limits`).
DEFAULT_MEMORY_MB = 4096
#: The result cache's folder; unset: the user's (:func:`graders.cache.default_cache_dir`).
CACHE_ENV = "AUTOGRADE_CACHE"

#: Where every process appends one JSON line per build or cache hit (for the benchmark, which
#: counts across processes); unset: nothing is written.
STATS_ENV = "AUTOGRADE_STATS_FILE"
