"""Failed password logins, counted per client address and per name, to slow guessing.

Why: the web page's /login takes a password, and nothing else stops a script from
trying a dictionary against it. After `failures` failed logins within `window`
seconds from one address, or for one name, /login answers 429 until the oldest of
them leaves the window (a moving window, from the `limits` library). Bearer tokens
are not affected, so a person locked out of the page still reaches the API.
Counts live in the hub's memory: a restart forgets them.
"""

from __future__ import annotations

import time

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class LoginThrottle:
    def __init__(self, failures: int, window: int) -> None:
        """failures: failed logins allowed per address and per name within `window` seconds."""
        if failures < 1 or window < 1:
            raise ValueError("login_failures and login_window_seconds must be at least 1")
        self.limit = RateLimitItemPerSecond(failures, window)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    @staticmethod
    def _keys(name: str, address: str) -> list[tuple[str, str]]:
        return [("address", address), ("name", name.lower())]

    def wait_seconds(self, name: str, address: str) -> float:
        """Seconds until a login from `address` for `name` may be tried again; 0 if now."""
        waits = [self.limiter.get_window_stats(self.limit, *key).reset_time - time.time()
                 for key in self._keys(name, address)
                 if not self.limiter.test(self.limit, *key)]
        return max([0.0, *waits])

    def failed(self, name: str, address: str) -> None:
        for key in self._keys(name, address):
            self.limiter.hit(self.limit, *key)
