"""The harness's defaults and the environment variables it reads, each declared once."""

from __future__ import annotations

DEFAULT_TIMEOUT_S = 300.0
DEFAULT_MEMORY_MB = 4096
CACHE_ENV = "AUTOGRADE_CACHE"

#: Where every process appends one JSON line per build or cache hit (for the benchmark, which
#: counts across processes); unset: nothing is written.
STATS_ENV = "AUTOGRADE_STATS_FILE"
