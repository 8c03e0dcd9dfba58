"""Slowing down password guessing, without letting a guesser lock anyone out. Pure: the
caller gives the time; state is per engine process (a restart forgets it, which is acceptable).

Every try is recorded as a failure *before* the password is checked (`begin`), so guesses sent
at once cannot all pass the check: the decision and the record are one step with no await in
between. A correct password then takes its own record back (`succeeded`).

Three counts over a sliding window decide:
- per (login, address): a guesser at one address gets `per_login_and_address` tries at a login;
- per address: one address gets `per_address` failures in all, whatever logins it tries
  (spraying one password over every login);
- per login, from every address: past `per_login` failures (guessing from many addresses),
  only addresses that have not failed at that login in the window may try, once each.
A locked login thus still lets its owner in from his own address: what a guesser does from
his addresses never blocks another address that has not failed. IPv6 addresses count per /64
(one subscriber's whole network), IPv4 per address.

The table is bounded: past `max_keys` entries per count, expired entries are purged, then the
least recently used forgotten.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal


@dataclass(frozen=True)
class ThrottleLimits:
    per_login_and_address: int = 5
    per_address: int = 30
    per_login: int = 50
    window: timedelta = timedelta(minutes=5)
    max_keys: int = 10_000


@dataclass(frozen=True)
class Attempt:
    """A try under way: handed back to `succeeded` when the password was right."""

    login: str
    address: str
    at: datetime


Refusal = Literal["address", "login_and_address", "login"]


@dataclass(frozen=True)
class ThrottleDecision:
    attempt: Attempt | None  # None: refused
    refused_by: Refusal | None = None
    retry_after: timedelta | None = None

    @property
    def allowed(self) -> bool:
        return self.attempt is not None


def address_key(address: str | None) -> str:
    """What an address counts as: IPv6 by its /64, IPv4 as itself, anything else as given."""
    if not address:
        return "-"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class _Counts:
    """Times of failures per key within the window, oldest first; at most `cap` per key and
    `max_keys` keys, least recently used first out."""

    def __init__(self, cap: int, window: timedelta, max_keys: int) -> None:
        self.cap, self.window, self.max_keys = cap, window, max_keys
        self._times: OrderedDict[object, deque[datetime]] = OrderedDict()

    def recent(self, key: object, now: datetime) -> deque[datetime]:
        times = self._times.get(key)
        if times is None:
            return deque()
        while times and now - times[0] >= self.window:
            times.popleft()
        if not times:
            del self._times[key]
        return times

    def add(self, key: object, now: datetime) -> None:
        times = self._times.get(key)
        if times is None:
            times = self._times[key] = deque(maxlen=self.cap)
        times.append(now)
        self._times.move_to_end(key)
        if len(self._times) > self.max_keys:
            self.purge(now)
            while len(self._times) > self.max_keys:
                self._times.popitem(last=False)

    def take_back(self, key: object, at: datetime) -> None:
        times = self._times.get(key)
        if times is not None and at in times:
            times.remove(at)
            if not times:
                del self._times[key]

    def forget(self, key: object) -> None:
        self._times.pop(key, None)

    def purge(self, now: datetime) -> int:
        expired = [k for k, t in self._times.items() if not t or now - t[-1] >= self.window]
        for key in expired:
            del self._times[key]
        return len(expired)

    def __len__(self) -> int:
        return len(self._times)


class SignInThrottle:
    def __init__(self, limits: ThrottleLimits | None = None) -> None:
        self.limits = limits or ThrottleLimits()
        window, keys = self.limits.window, self.limits.max_keys
        self._pairs = _Counts(self.limits.per_login_and_address, window, keys)
        self._addresses = _Counts(self.limits.per_address, window, keys)
        self._logins = _Counts(self.limits.per_login, window, keys)

    def begin(self, login: str, address: str | None, now: datetime) -> ThrottleDecision:
        """May this try go ahead? If so it is already counted as a failure."""
        login, address = login.lower(), address_key(address)
        limits = self.limits
        by_address = self._addresses.recent(address, now)
        if len(by_address) >= limits.per_address:
            return self._refused("address", by_address, now)
        by_pair = self._pairs.recent((login, address), now)
        if len(by_pair) >= limits.per_login_and_address:
            return self._refused("login_and_address", by_pair, now)
        if len(self._logins.recent(login, now)) >= limits.per_login and by_pair:
            return self._refused("login", by_pair, now)
        self._pairs.add((login, address), now)
        self._addresses.add(address, now)
        self._logins.add(login, now)
        return ThrottleDecision(Attempt(login, address, now))

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: this try was no failure, and the address's earlier
        failures at this login are forgiven (not its failures elsewhere)."""
        self._pairs.forget((attempt.login, attempt.address))
        self._addresses.take_back(attempt.address, attempt.at)
        self._logins.take_back(attempt.login, attempt.at)

    def purge(self, now: datetime) -> int:
        return sum(c.purge(now) for c in (self._pairs, self._addresses, self._logins))

    def size(self) -> int:
        """Entries held in all (bounded by 3 * max_keys)."""
        return len(self._pairs) + len(self._addresses) + len(self._logins)

    def failures(self, login: str, now: datetime) -> int:
        """Failures at a login from every address within the window (tries under way too)."""
        return len(self._logins.recent(login.lower(), now))

    def _refused(self, by: Refusal, times: deque[datetime], now: datetime) -> ThrottleDecision:
        return ThrottleDecision(None, by, times[0] + self.limits.window - now)
