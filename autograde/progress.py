"""A one-line progress bar for the console."""

from __future__ import annotations

import sys
import time


class Progress:
    """A one-line text progress bar on stderr."""

    def __init__(self, total: int, stream=None):
        self.total, self.done, self.t0 = total, 0, time.perf_counter()
        self.stream = stream if stream is not None else sys.stderr

    def step(self, label: str) -> None:
        self.done += 1
        width = 30
        filled = int(width * self.done / max(1, self.total))
        elapsed = time.perf_counter() - self.t0
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} {elapsed:6.1f}s  {label[:30]:<30}")
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()
