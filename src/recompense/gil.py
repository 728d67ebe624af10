"""The GIL's switch interval for work that waits on sockets while another thread computes.

A thread that waits on a socket (psycopg for a query's answer, for a COPY's
acknowledgement) releases the GIL and must take it back when the answer arrives. If
another thread is running Python meanwhile, CPython hands the GIL over only when that
thread reaches its switch interval: 5 ms by default. A round trip that takes 0.05 ms
on its own then costs up to 5 ms (measured: 5.3 ms at the median beside one busy
thread, 36 ms beside two). Half a millisecond keeps the hand-off short at the price of
more frequent switches, which the benchmarks show to be cheaper here
(``docs/benchmarks.md``, "Distribution" and "Web service").

:func:`short_switch_interval` shortens it for the duration of a block (nested and
concurrent uses are counted; the previous value comes back when the last one ends);
``recompense serve``'s workers set it for their lifetime.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SWITCH_INTERVAL_S = 0.0005

_lock = threading.Lock()
_users = 0
_saved = 0.0


@contextmanager
def short_switch_interval(seconds: float = SWITCH_INTERVAL_S) -> Iterator[None]:
    """Run the block with the switch interval at most ``seconds``, then restore it."""
    global _users, _saved
    with _lock:
        if _users == 0:
            _saved = sys.getswitchinterval()
            sys.setswitchinterval(min(seconds, _saved))
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                sys.setswitchinterval(_saved)
