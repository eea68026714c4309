"""A progress display for slow CLI work, always on stderr so stdout stays clean for data.

On a terminal it is a spinner with a status line, redrawn in place and erased when the work ends.
Elsewhere (CI logs, pipes) it is an occasional plain line. Work that ends within `delay` seconds
shows nothing at all.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

SPINNER = "|/-\\"
ERASE_LINE = "\r\x1b[K"


class Progress:
    """`with Progress("listing segments") as progress: ... progress.update("page 3")`."""

    def __init__(
        self,
        label: str,
        *,
        stream: TextIO | None = None,
        delay: float = 1.0,
        plain_every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        background: bool = True,
    ) -> None:
        self._label = label
        self._stream = stream if stream is not None else sys.stderr
        self._tty = _is_tty(self._stream)
        self._delay = delay
        self._plain_every = plain_every
        self._clock = clock
        self._background = background
        self._lock = threading.Lock()
        self._status = ""
        self._started = clock()
        self._frame = 0
        self._drawn = False  # a TTY line is on screen and must be erased
        self._last_plain: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def is_tty(self) -> bool:
        return self._tty

    def __enter__(self) -> Progress:
        self._started = self._clock()
        if self._background:
            interval = 0.1 if self._tty else 0.25
            self._thread = threading.Thread(
                target=self._run, args=(interval,), daemon=True, name="fstriage-progress"
            )
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        with self._lock:
            if self._drawn:
                self._write(ERASE_LINE)
                self._drawn = False

    def update(self, status: str) -> None:
        """Set the status shown next to the label (cheap: drawing happens on the ticker)."""
        with self._lock:
            self._status = status

    def render(self) -> None:
        """Draw one frame if the work has taken longer than `delay` (the ticker calls this)."""
        with self._lock:
            now = self._clock()
            elapsed = now - self._started
            if elapsed < self._delay or self._stop.is_set():
                return
            text = f"{self._label}: {self._status}" if self._status else self._label
            if self._tty:
                spinner = SPINNER[self._frame % len(SPINNER)]
                self._frame += 1
                line = f"{spinner} {text} ({elapsed:.0f}s)"
                # A line wider than the terminal would wrap, and `\r` could no longer redraw it.
                width = max(20, shutil.get_terminal_size().columns - 1)
                if len(line) > width:
                    line = line[: width - 1] + "…"
                self._write(ERASE_LINE + line)
                self._drawn = True
            elif self._last_plain is None or now - self._last_plain >= self._plain_every:
                self._last_plain = now
                self._write(f"fstriage: {text} ({elapsed:.0f}s)\n")

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.render()

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            pass  # a closed or broken stderr must not break the command


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
