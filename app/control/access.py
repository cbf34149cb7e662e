"""Who may drive the show over the network: an allow-list of addresses and an optional passcode.

Pure and thread-compatible (the OSC server calls it from its receive thread only); the clock
is injectable so that tests of the lockout never sleep.

Allow-list entries are IP addresses or networks (`"10.0.0.7"`, `"192.168.1.0/24"`,
`"fd00::/8"`), or keywords: `"local"` (loopback plus the machine's local subnets),
`"loopback"`, `"private"` (loopback plus every private range) and `"any"` (everyone). No
allow-list means `["local"]`. An explicit list replaces that default: write
`["local", "10.8.0.0/16"]` to extend it, and keep `"loopback"` (or `"local"`) in it for a
console running on the show machine itself.

How the local subnets are found: on Linux, the directly connected routes of
`/proc/net/route` (IPv4, the default route excluded) and the prefixes of
`/proc/net/if_inet6` (IPv6, global and link-local); where neither can be read (macOS,
Windows, a sandbox) `"local"` falls back to `"private"`: loopback, 10/8, 172.16/12,
192.168/16, 169.254/16, fc00::/7 and fe80::/10. That fallback is wider than the venue's
subnet but never reaches the public internet.

Passcode: until `connect(host, passcode)` succeeds, `authorized(host)` is false and the
server answers `denied`. Five wrong passcodes from one host lock it out for 60 s; during the
lockout even the right passcode is refused. Hosts are IP addresses (the source port is
ignored: a console may send from several ports).

On top of the per-host count, all hosts together share a budget of wrong passcodes (20, one
back every 6 s): a guesser spreading its tries over many addresses (a /8 of loopback, a
spoofed subnet) empties it, and then no passcode is even compared for a host that has not
connected yet (`Verdict.BUSY`) until the budget refills; hosts already connected keep
working. A lockout is remembered until it ends whatever else fails meanwhile: the table of
failing hosts only forgets hosts that are not locked out, and when it holds nothing but
lockouts a new host is refused as BUSY. The passcode is compared in constant time (the
SHA-256 digests of both, through `hmac.compare_digest`, so neither its content nor its
length leaks through timing).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

LOOPBACK: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)
PRIVATE: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fc00::/7"),
    ipaddress.ip_network("fe80::/10"),
)
MAX_FAILURES = 5
LOCKOUT_SECONDS = 60.0
GLOBAL_FAILURES = 20  # wrong passcodes from all hosts together before BUSY
GLOBAL_REFILL_SECONDS = 6.0  # one more wrong passcode allowed every 6 s
_MAX_TRACKED = 4096  # hosts remembered for failures; bounded so a flood cannot grow memory


def _hex_le_ipv4(text: str) -> ipaddress.IPv4Address:
    """An IPv4 address written as little-endian hex, as in /proc/net/route."""
    return ipaddress.IPv4Address(int(text, 16).to_bytes(4, "little"))


def local_networks(
    route_file: str | Path = "/proc/net/route", inet6_file: str | Path = "/proc/net/if_inet6"
) -> list[IPNetwork] | None:
    """The machine's directly connected subnets, or None when they cannot be read.

    Loopback is not included (see `LOOPBACK`). The default route (0.0.0.0/0) is never part
    of the answer.
    """
    nets: list[IPNetwork] = []
    found = False
    try:
        lines = Path(route_file).read_text().splitlines()[1:]
        found = True
        for line in lines:
            cols = line.split()
            if len(cols) < 8:
                continue
            dest, gateway, mask = cols[1], cols[2], cols[7]
            if int(gateway, 16) != 0 or int(mask, 16) == 0:
                continue  # through a router, or the default route
            prefix = bin(int(mask, 16)).count("1")
            net = ipaddress.IPv4Network(f"{_hex_le_ipv4(dest)}/{prefix}", strict=False)
            if net not in nets:
                nets.append(net)
    except (OSError, ValueError):
        pass
    try:
        lines = Path(inet6_file).read_text().splitlines()
        found = True
        for line in lines:
            cols = line.split()
            if len(cols) < 3:
                continue
            addr = ipaddress.IPv6Address(int(cols[0], 16))
            prefix = int(cols[2], 16)
            if addr.is_loopback or prefix == 0:
                continue
            net = ipaddress.IPv6Network(f"{addr}/{prefix}", strict=False)
            if net not in nets:
                nets.append(net)
    except (OSError, ValueError):
        pass
    return nets if found else None


def parse_allow(entries: Iterable[str] | None) -> tuple[list[IPNetwork], bool]:
    """Networks of an allow-list and whether it allows everyone.

    Raises ValueError naming every entry that is neither an address, a network nor a keyword.
    """
    items = ["local"] if entries is None else [str(e).strip() for e in entries]
    nets: list[IPNetwork] = []
    bad: list[str] = []
    allow_any = False
    for item in items:
        key = item.lower()
        if key in ("any", "*", "all"):
            allow_any = True
        elif key == "local":
            local = local_networks()
            nets.extend(LOOPBACK)
            nets.extend(PRIVATE if local is None else local)
        elif key == "private":
            nets.extend(LOOPBACK + PRIVATE)
        elif key in ("loopback", "localhost"):
            nets.extend(LOOPBACK)
        else:
            try:
                nets.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                bad.append(item)
    if bad:
        raise ValueError(
            "allow-list: not an IP address, a network (a.b.c.d/n) or one of "
            f"local, loopback, private, any: {', '.join(repr(b) for b in bad)}"
        )
    unique: list[IPNetwork] = []
    for n in nets:
        if n not in unique:
            unique.append(n)
    return unique, allow_any


@dataclass(frozen=True)
class Listen:
    """Where a server listens and who may talk to it (the OSC server and the web console).

    `host` is the bind address, `port` the port (0 picks a free one: the server says which
    once started), `allow` the allow-list of the module docstring (None = `["local"]`).
    """

    host: str
    port: int
    allow: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.allow is not None and not isinstance(self.allow, tuple):
            object.__setattr__(self, "allow", tuple(self.allow))  # a list given: frozen


def _address(host: str) -> IPAddress | None:
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class Verdict(StrEnum):
    """The answer of `AccessControl.check` and `AccessControl.connect`."""

    OK = "ok"
    NOT_ALLOWED = "not allowed"  # not on the allow-list: dropped without a reply
    NOT_CONNECTED = "connect first"  # a passcode is set and this host has not given it
    BAD_PASSCODE = "badpass"
    LOCKED = "locked out"
    BUSY = "too many wrong passcodes, try later"  # the budget of all hosts is spent


@dataclass
class _HostRecord:
    failures: int = 0
    locked_until: float = 0.0


class AccessControl:
    """Allow-list plus optional passcode, per client host.

    `allow`: see the module docstring (None = `["local"]`). `passcode`: None or "" = no
    passcode. `clock`: monotonic seconds, injectable.
    """

    def __init__(
        self,
        allow: Iterable[str] | None = None,
        passcode: str | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_failures: int = MAX_FAILURES,
        lockout_seconds: float = LOCKOUT_SECONDS,
        global_failures: int = GLOBAL_FAILURES,
        global_refill_seconds: float = GLOBAL_REFILL_SECONDS,
        max_tracked: int = _MAX_TRACKED,
    ) -> None:
        self.networks, self.allow_any = parse_allow(allow)
        self.passcode = passcode or None
        self._digest = _digest(self.passcode or "")
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds
        self.global_failures = global_failures
        self.global_refill_seconds = global_refill_seconds
        self._max_tracked = max_tracked
        self._clock = clock
        self._budget = float(global_failures)  # wrong passcodes left for all hosts together
        self._budget_time = clock()
        self._authorized: set[str] = set()
        self._records: dict[str, _HostRecord] = {}
        self._allowed_cache: dict[str, bool] = {}

    def allowed(self, host: str) -> bool:
        """Whether a host is on the allow-list (cached: called for every packet)."""
        hit = self._allowed_cache.get(host)
        if hit is not None:
            return hit
        addr = _address(host)
        ok = addr is not None and (self.allow_any or any(addr in n for n in self.networks))
        if len(self._allowed_cache) >= _MAX_TRACKED:
            self._allowed_cache.clear()
        self._allowed_cache[host] = ok
        return ok

    def authorized(self, host: str) -> bool:
        """Allowed, and either no passcode is set or the host has connected with it."""
        if not self.allowed(host):
            return False
        return self.passcode is None or host in self._authorized

    def locked_for(self, host: str) -> float:
        """Seconds of lockout left for a host (0 when not locked)."""
        rec = self._records.get(host)
        if rec is None:
            return 0.0
        return max(0.0, rec.locked_until - self._clock())

    def check(self, host: str) -> Verdict:
        """May this host's message (other than /connect) be executed?"""
        if not self.allowed(host):
            return Verdict.NOT_ALLOWED
        if self.passcode is None:
            return Verdict.OK
        if self.locked_for(host) > 0:
            return Verdict.LOCKED
        return Verdict.OK if host in self._authorized else Verdict.NOT_CONNECTED

    def budget_left(self) -> float:
        """Wrong passcodes the hosts together may still send before BUSY."""
        now = self._clock()
        if self.global_refill_seconds > 0:
            grown = (now - self._budget_time) / self.global_refill_seconds
            self._budget = min(float(self.global_failures), self._budget + grown)
        self._budget_time = now
        return self._budget

    def connect(self, host: str, passcode: str) -> Verdict:
        """Try a passcode. Counts failures; the fifth in a row locks the host out, and when
        all hosts together have spent the global budget, hosts not yet connected get BUSY
        without their passcode being compared."""
        if not self.allowed(host):
            return Verdict.NOT_ALLOWED
        if self.locked_for(host) > 0:
            return Verdict.LOCKED
        if self.passcode is None:
            return Verdict.OK
        known = host in self._authorized
        if not known and self.budget_left() < 1.0:
            return Verdict.BUSY
        if hmac.compare_digest(_digest(str(passcode)), self._digest):
            self._authorized.add(host)
            self._records.pop(host, None)
            return Verdict.OK
        self._authorized.discard(host)
        if host not in self._records and not self._make_room():
            return Verdict.BUSY
        self._budget = max(0.0, self._budget - 1.0)
        rec = self._records.setdefault(host, _HostRecord())
        if rec.locked_until and rec.locked_until <= self._clock():
            rec.failures = 0  # an expired lockout starts a fresh count
            rec.locked_until = 0.0
        rec.failures += 1
        if rec.failures >= self.max_failures:
            rec.locked_until = self._clock() + self.lockout_seconds
            return Verdict.LOCKED
        return Verdict.BAD_PASSCODE

    def _make_room(self) -> bool:
        """Room for one more failing host: forget the oldest host that is not locked out
        (never a lockout). False when every remembered host is locked out."""
        if len(self._records) < self._max_tracked:
            return True
        now = self._clock()
        for key, rec in self._records.items():
            if rec.locked_until <= now:
                del self._records[key]
                return True
        return False

    def describe(self) -> str:
        """One line for the log: what is allowed and whether a passcode is needed."""
        who = "any address" if self.allow_any else ", ".join(str(n) for n in self.networks)
        return f"allow {who}; passcode {'required' if self.passcode else 'off'}"
