"""Peak-memory tracking: how much resident memory a block of code needs (lessons 03 and 04, the CLI).

Example:
    >>> from ftlab.memory import PeakRSS
    >>> with PeakRSS() as memory:
    ...     _ = bytearray(10_000_000)
    >>> memory.peak_mb >= memory.start_mb
    True
"""

from __future__ import annotations

import threading
import time


class PeakRSS:
    """Context manager sampling this process's resident memory every ``interval`` seconds.

    Attributes after the block: ``start_mb``, ``peak_mb`` (highest RSS seen) and ``seconds``.

    Example:
        >>> with PeakRSS() as memory:
        ...     _ = bytearray(10_000_000)
        >>> memory.peak_mb >= memory.start_mb
        True
    """

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.start_mb = self.peak_mb = self.seconds = 0.0
        self._stop = threading.Event()

    @staticmethod
    def rss_mb() -> float:
        import psutil

        return psutil.Process().memory_info().rss / 2**20

    def _watch(self):
        while not self._stop.wait(self.interval):
            self.peak_mb = max(self.peak_mb, self.rss_mb())

    def __enter__(self):
        self.start_mb = self.peak_mb = self.rss_mb()
        self._started = time.perf_counter()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.seconds = time.perf_counter() - self._started
        self.peak_mb = max(self.peak_mb, self.rss_mb())
        return False
