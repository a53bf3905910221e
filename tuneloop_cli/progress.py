"""Progress of a long job step as plain lines, for a stderr that is not a terminal (a log
file, CI, `make demo 2> log`), where a live bar draws nothing: a line when a step starts
or ends, and in between at most every tenth of the way or every half minute."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console

STEP_SHARE = 0.1  # print again once this much more of the step is done
QUIET_S = 30.0  # ... or once this long has passed without a line


class ProgressLines:
    def __init__(self, err: Console, clock: Callable[[], float] = time.monotonic):
        self.err = err
        self.clock = clock
        self._stage = ""
        self._done = 0
        self._at = 0.0

    def show(self, stage: str, done: int, total: int, message: str = "") -> bool:
        """Print `message` (else `stage: done/total`) if it is news; True when a line was
        printed. News is judged by `stage`, `done` and `total` alone."""
        now = self.clock()
        news = (
            stage != self._stage
            or done >= total > self._done
            or done - self._done >= STEP_SHARE * total
            or (now - self._at >= QUIET_S and done != self._done)
        )
        if not news:
            return False
        self._stage, self._done, self._at = stage, done, now
        shown = message or f"{stage}: {done}/{total}"
        self.err.print(f"  {shown}", soft_wrap=True, markup=False)
        return True
