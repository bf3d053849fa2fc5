"""A one-line progress bar, drawn only when the stream is a terminal."""

from __future__ import annotations

import sys

__all__ = ["ProgressBar"]


class ProgressBar:
    """``advance(n, label)`` as work gets done; ``close()`` ends the line.

    ``counter(done, total)`` renders the count (default ``"12/340"``). Nothing is written to
    pipes or files, or when ``enabled`` is false.
    """

    def __init__(self, total, stream=None, *, enabled=True, counter=None, width=30):
        self.stream = stream if stream is not None else sys.stderr
        self.total, self.done, self.width = max(total, 1), 0, width
        self.counter = counter or (lambda done, total: f"{done}/{total}")
        self.active = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()

    def advance(self, n=1, label=""):
        self.done += n
        if self.active:
            frac = min(1.0, self.done / self.total)
            bar = "#" * int(self.width * frac)
            line = f"\r[{bar:<{self.width}}] {frac:4.0%} {self.counter(self.done, self.total)} {label}"
            self.stream.write(line[:120].ljust(120))
            self.stream.flush()

    def close(self):
        if self.active:
            self.stream.write("\r" + " " * 120 + "\r")
            self.stream.flush()
