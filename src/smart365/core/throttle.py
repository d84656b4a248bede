"""Login throttling (로그인 제한): slows password guessing without letting anyone lock a user out.

The policy, counting only failed logins (browser and ``/api/v1/auth/token`` share the counters):

* **per account and client address**: 5 failures in 15 minutes, 10 in an hour or 20 in a day lock that
  account *from that address* until the oldest failure in the full window ages out, so the wait grows
  (15 minutes, then an hour, then a day) while the guessing goes on;
* **per client address**: 30 failures in 15 minutes or 100 in a day, across all accounts, lock the address
  (one machine trying many accounts);
* a successful login clears its account-and-address counter.

There is deliberately no lock on an account from everywhere: an attacker failing on purpose locks out only
the address they send from, never the user at their own desk (unless they share one address, as behind
one office NAT, and then only for the window). A distributed guesser still gets at most 20 tries a day
per address, against argon2 hashes.

Counters live in the ``limits`` library's storage: in memory for the embedded shape, or Redis
(``SMART365_LOGIN_THROTTLE_URL=redis://…``, with the ``redis`` package installed) when several server
processes must share them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import ClassVar

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from smart365.core.errors import AppError
from smart365.core.i18n import N_

PER_ACCOUNT_AND_ADDRESS = "5/15 minutes;10/hour;20/day"
PER_ADDRESS = "30/15 minutes;100/day"


class Throttled(AppError):
    """429: too many failed logins; ``retry_after`` says in how many seconds a try is taken again."""

    status: ClassVar[int] = 429
    code: ClassVar[str] = "too_many_attempts"
    default_message: ClassVar[str] = N_("Too many failed logins. Please try again in {minutes} minutes.")

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(minutes=max(1, math.ceil(retry_after / 60)))


class LoginThrottle:
    """Counts failed logins by account and by client address (see the module docstring for the policy).

    ``clock`` is the clock Retry-After is measured on; it must be the one the storage uses (tests that move
    time move both).
    """

    def __init__(self, storage_url: str = "memory://", clock: Callable[[], float] = time.time) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_url))
        self._clock = clock
        self._pair: list[RateLimitItem] = parse_many(PER_ACCOUNT_AND_ADDRESS)
        self._address: list[RateLimitItem] = parse_many(PER_ADDRESS)

    def _keys(self, account: str, address: str | None) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        where = address or "unknown"
        pair = [(item, ("login", account.strip().lower(), where)) for item in self._pair]
        return pair + [(item, ("login-from", where)) for item in self._address]

    def check(self, account: str, address: str | None) -> None:
        """Raise :class:`Throttled` if a login for ``account`` from ``address`` may not be tried now."""
        waits = [
            self._limiter.get_window_stats(item, *ids).reset_time - self._clock()
            for item, ids in self._keys(account, address)
            if not self._limiter.test(item, *ids)
        ]
        if waits:
            raise Throttled(retry_after=max(1, math.ceil(max(waits))))

    def failed(self, account: str, address: str | None) -> None:
        """Count a failed login."""
        for item, ids in self._keys(account, address):
            self._limiter.hit(item, *ids)

    def succeeded(self, account: str, address: str | None) -> None:
        """A right password from this address: its account-and-address counters start again."""
        for item, ids in self._keys(account, address)[: len(self._pair)]:
            self._limiter.clear(item, *ids)
