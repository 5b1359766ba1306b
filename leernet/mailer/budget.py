"""A CPU-time budget for processing one mail: the last line of defence against a hang.

Reading a mail is synchronous work on the event loop's thread (email parsing,
iCalendar, regular expressions), so ``asyncio.timeout`` cannot stop it. A
CPU-time timer can: ``setitimer(ITIMER_PROF)`` sends SIGPROF once the process
has used ``seconds`` of CPU, and the handler raises ``BudgetExceeded`` in the
code that runs at that moment. CPython checks for signals between bytecodes and
inside its regex engine (``sre`` polls every 4,096 steps; checked on 3.11), so
a pure-Python loop, a dateutil expansion and a catastrophic regex all stop.

CPU time rather than wall time: a busy machine (two cores, other services)
does not eat a mail's budget while it waits, and ``ITIMER_REAL`` (SIGALRM) stays
free for whoever else uses it. The timer counts the whole process: when the
signal comes while another task of the loop runs (the processor awaits the
database on PostgreSQL), the handler looks again a little later instead of
raising in that task.

Where signals cannot be used (not the main thread, no ``setitimer``) the
budget is off; the in-flight log (``mailer/inflight.py``) still makes sure a
mail that hangs is set aside after a restart. Arming and disarming costs two
``signal``/``setitimer`` calls: a few microseconds per mail.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any

from leernet.mailer.headers import recipient_addresses

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

__all__ = ["Budget", "BudgetExceeded", "Headline", "headline"]

_TIMER = getattr(signal, "ITIMER_PROF", None)
_SIGNAL = getattr(signal, "SIGPROF", None)
_RETRY = 0.01  # CPU seconds: look again when the signal came while another task ran


class BudgetExceeded(BaseException):
    """Processing one mail used more CPU time than its budget.

    A ``BaseException`` on purpose (like ``asyncio.CancelledError``), outside
    the ``LeernetError`` tree: a parser's ``except Exception`` must not swallow
    it and carry on with the hang.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"processing took more than {seconds:g} s of CPU time")


class Budget:
    """``with budget.limit():`` raises ``BudgetExceeded`` once the block used ``seconds`` of CPU."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._armed = False
        self._task: asyncio.Task[Any] | None = None

    @property
    def enabled(self) -> bool:
        """Whether a budget is set."""
        return (
            self.seconds > 0
            and _TIMER is not None
            and threading.current_thread() is threading.main_thread()
        )

    @contextlib.contextmanager
    def limit(self) -> Iterator[None]:
        """Run the block under the budget (or without one where signals cannot be used)."""
        if not self.enabled or self._armed:
            yield  # off, or already inside a limit: the outer one counts
            return
        assert _TIMER is not None
        assert _SIGNAL is not None
        try:
            self._task = asyncio.current_task()
        except RuntimeError:
            self._task = None
        previous = signal.signal(_SIGNAL, self._ring)
        self._armed = True
        outer = signal.setitimer(_TIMER, self.seconds)
        try:
            yield
        finally:
            # Disarm first: a signal that arrives from here on finds the budget off.
            self._armed = False
            signal.setitimer(_TIMER, 0)
            signal.signal(_SIGNAL, previous)
            self._task = None
            if outer[0] > 0:  # somebody else's timer (a profiler): give it back
                signal.setitimer(_TIMER, *outer)

    def _ring(self, _signum: int, _frame: FrameType | None) -> None:
        if not self._armed:
            return
        if self._task is not None:
            try:
                current = asyncio.current_task()
            except RuntimeError:
                current = None
            if current is not self._task:
                assert _TIMER is not None
                signal.setitimer(_TIMER, _RETRY)
                return
        self._armed = False
        raise BudgetExceeded(self.seconds)


@dataclass(frozen=True, slots=True)
class Headline:
    """What a report about a mail set aside may name: its sender, subject and recipients."""

    sender: str = ""
    subject: str = ""
    recipients: tuple[str, ...] = ()


def headline(raw: bytes, limit: int = 64 * 1024) -> Headline:
    """The headline of a mail set aside, read from the header in its first ``limit`` bytes only.

    A mail that ran over its budget must not be parsed in full again to report it.
    """
    head = raw[:limit].split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    try:
        msg = BytesHeaderParser(policy=compat32).parsebytes(head)
        sender = parseaddr(str(msg.get("From", "")))[1]
        subject = str(make_header(decode_header(str(msg.get("Subject", "")))))
        recipients = tuple(recipient_addresses(msg))
    except Exception:
        return Headline()
    return Headline(sender, " ".join(subject.split()), recipients)
