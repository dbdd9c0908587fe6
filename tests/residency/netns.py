"""Network namespaces, veth links, captures and counters for the residency proof.

A ``Lab`` owns everything it makes and ``close`` undoes all of it, on
failure too: the processes it started (by their ids), the captures, then
the namespaces (deleting one deletes its veth ends). Decisions:

- **Names are unique per run** (``brk-<pid>-<role>``), so two runs, or a
  run beside a crashed one's leftovers, never collide.
- **Addresses come from the documentation ranges only** (RFC 5737). Each
  namespace has one *service address*, a /32 on its loopback from
  203.0.113.0/24, which its processes bind. Each link is a /30 carved from
  192.0.2.0/24, then 198.51.100.0/24, with a route on each side to the
  other side's service address. No namespace forwards, so a link carries
  only the traffic of the two namespaces it joins, and a namespace reaches
  exactly the namespaces it is linked to.
- **IPv6 is off** in every namespace before any link exists (no neighbour
  discovery or router solicitations), so an unused link's counters stay at
  zero and a non-zero counter is traffic someone sent.
- **Veth ends are created directly in their namespaces**
  (``ip link add ... netns A type veth peer ... netns B``) and named
  ``to-<peer role>``, so names need only be unique inside a namespace.
- **One capture per link**, on its first end: a veth pair is one wire,
  so that end sees both directions.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.residency.pcap import frames

LINK_POOLS = ("192.0.2.0/24", "198.51.100.0/24")
SERVICE_POOL = "203.0.113.0/24"
DOCUMENTATION = tuple(ipaddress.ip_network(n) for n in (*LINK_POOLS, SERVICE_POOL))
STOP_WAIT = 10.0
"""Seconds a process gets to end after SIGTERM (or SIGINT) before SIGKILL."""


def is_root() -> bool:
    """Namespaces, veth pairs and captures need root (CI runs as root)."""
    return os.geteuid() == 0


def _ip(*args: str) -> str:
    """Run ``ip`` with ``args``; its output, or ``CalledProcessError`` with its message."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=30)
    if done.returncode != 0:
        raise subprocess.CalledProcessError(
            done.returncode, ["ip", *args], done.stdout, done.stderr
        )
    return done.stdout


@dataclass(frozen=True, slots=True)
class Namespace:
    """One network namespace: its role in the topology, its name and service address."""

    role: str
    name: str
    address: str


@dataclass(frozen=True, slots=True)
class Link:
    """A veth pair joining two namespaces: each end's interface and address."""

    a: Namespace
    b: Namespace
    a_address: str
    b_address: str

    @property
    def label(self) -> str:
        """``a<->b`` by role, for reports."""
        return f"{self.a.role}<->{self.b.role}"

    @property
    def a_end(self) -> str:
        """The interface name in ``a`` (named after the peer)."""
        return f"to-{self.b.role}"

    @property
    def b_end(self) -> str:
        """The interface name in ``b``."""
        return f"to-{self.a.role}"


@dataclass(frozen=True, slots=True)
class Counters:
    """Bytes and packets through a link, as its first end counted them."""

    rx_bytes: int
    tx_bytes: int
    rx_packets: int
    tx_packets: int

    @property
    def total_bytes(self) -> int:
        """Both directions."""
        return self.rx_bytes + self.tx_bytes


@dataclass
class Capture:
    """A running ``tcpdump`` on one link, writing a pcap file."""

    link: Link
    path: Path
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Lab:
    """The namespaces, links, processes and captures of one run; ``close`` undoes them."""

    workdir: Path
    prefix: str = field(default_factory=lambda: f"brk-{os.getpid()}")
    namespaces: dict[str, Namespace] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)
    captures: dict[str, Capture] = field(default_factory=dict)
    processes: list[subprocess.Popen[Any]] = field(default_factory=list)
    _subnets: Iterator[ipaddress.IPv4Network] = field(init=False)
    _hosts: Iterator[ipaddress.IPv4Address] = field(init=False)

    def __post_init__(self) -> None:
        sweep_stale()
        self._subnets = (
            net for pool in LINK_POOLS for net in ipaddress.IPv4Network(pool).subnets(new_prefix=30)
        )
        self._hosts = ipaddress.IPv4Network(SERVICE_POOL).hosts()

    def namespace(self, role: str) -> Namespace:
        """A new namespace for ``role``: loopback up, IPv6 off, a service address on lo."""
        space = Namespace(role, f"{self.prefix}-{role}", str(next(self._hosts)))
        _ip("netns", "add", space.name)
        self.namespaces[role] = space
        for scope in ("all", "default", "lo"):
            self.sysctl(space, f"net/ipv6/conf/{scope}/disable_ipv6", "1")
        _ip("-n", space.name, "link", "set", "lo", "up")
        _ip("-n", space.name, "addr", "add", f"{space.address}/32", "dev", "lo")
        return space

    def sysctl(self, space: Namespace, key: str, value: str) -> None:
        """Write one ``/proc/sys`` setting inside ``space`` (``key`` as a path)."""
        self.run(space, ["sh", "-c", f"echo {value} > /proc/sys/{key}"]).check_returncode()

    def link(self, a: Namespace, b: Namespace) -> Link:
        """A veth pair from ``a`` to ``b`` on a fresh /30, with routes to each service address."""
        subnet = next(self._subnets)
        first, second = (str(h) for h in subnet.hosts())
        joined = Link(a, b, first, second)
        _ip("link", "add", joined.a_end, "netns", a.name, "type", "veth",
            "peer", "name", joined.b_end, "netns", b.name)  # fmt: skip
        self.links.append(joined)
        for space, end, mine in ((a, joined.a_end, first), (b, joined.b_end, second)):
            self.sysctl(space, f"net/ipv6/conf/{end}/disable_ipv6", "1")
            _ip("-n", space.name, "addr", "add", f"{mine}/30", "dev", end)
            _ip("-n", space.name, "link", "set", end, "up")
        _ip("-n", a.name, "route", "add", f"{b.address}/32", "via", second)
        _ip("-n", b.name, "route", "add", f"{a.address}/32", "via", first)
        return joined

    def run(
        self, space: Namespace, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
        input_text: str | None = None, timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        """Run ``argv`` to its end inside ``space``; its output (no exception on failure)."""
        return subprocess.run(
            ["ip", "netns", "exec", space.name, *argv],
            env=None if env is None else dict(env),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def spawn(
        self, space: Namespace, argv: Sequence[str], *, log: Path,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:  # fmt: skip
        """Start ``argv`` inside ``space`` (stdout and stderr to ``log``); ``close`` ends it."""
        with log.open("ab") as sink:
            process = subprocess.Popen(
                ["ip", "netns", "exec", space.name, *argv],
                env=None if env is None else dict(env),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def interactive(
        self, space: Namespace, argv: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[str]:
        """Start ``argv`` inside ``space`` with its stdin and stdout (and stderr) as pipes."""
        process = subprocess.Popen(
            ["ip", "netns", "exec", space.name, *argv],
            env=None if env is None else dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def capture(self, link: Link) -> Capture:
        """Start ``tcpdump`` on ``link``'s first end; returns once it is listening."""
        path = self.workdir / f"{link.a.role}-{link.b.role}.pcap"
        log = self.workdir / f"{link.a.role}-{link.b.role}.tcpdump.log"
        # --immediate-mode: hand each packet over at once (not per filled block);
        # -U: write each packet at once; -Z root: keep the right to write the file;
        # -B: a 32 MiB kernel buffer, so a starved tcpdump on a loaded machine does not
        # drop packets (it did with the default 2 MiB, about one run in eight).
        argv = ["tcpdump", "-i", link.a_end, "-n", "-s", "0", "--immediate-mode", "-U",
                "-B", "32768", "-Z", "root", "-w", str(path)]  # fmt: skip
        process = self.spawn(link.a, argv, log=log)
        found = Capture(link, path, process, log)
        self.captures[link.label] = found
        wait_for(lambda: "listening on" in log.read_text(errors="replace"), f"tcpdump on {link}")
        return found

    def capture_all(self) -> None:
        """Start a capture on every link."""
        for each in self.links:
            self.capture(each)

    def stop_captures(self) -> dict[str, Path]:
        """Stop every capture once its file holds every packet its link counted.

        SIGINT makes tcpdump flush and close the file. Each link's pcap by label."""
        for found in self.captures.values():
            counted = self.counters(found.link)
            expected = counted.rx_packets + counted.tx_packets
            what = (
                f"the capture of {found.link.label} to catch up"
                f" ({expected} packets counted; tcpdump log: {found.log})"
            )
            wait_for(
                lambda f=found, n=expected: len(list(frames(f.path))) >= n,  # type: ignore[misc]
                what,
                deadline=60.0,
            )
            stop(found.process, signal.SIGINT)
        return {label: found.path for label, found in self.captures.items()}

    def counters(self, link: Link) -> Counters:
        """``link``'s byte and packet counters, read from its first end."""
        shown = json.loads(_ip("-n", link.a.name, "-j", "-s", "link", "show", "dev", link.a_end))
        stats = shown[0]["stats64"]
        rx, tx = stats["rx"], stats["tx"]
        return Counters(rx["bytes"], tx["bytes"], rx["packets"], tx["packets"])

    def find(self, a_role: str, b_role: str) -> Link:
        """The link between two roles (either order)."""
        for each in self.links:
            if {each.a.role, each.b.role} == {a_role, b_role}:
                return each
        raise KeyError(f"no link {a_role}<->{b_role}")

    def close(self) -> None:
        """End every process started here, then delete every namespace (and its links)."""
        for process in reversed(self.processes):
            stop(process)
        for space in self.namespaces.values():
            # Whatever our processes left running in our namespace (a daemon that
            # left its process group) is ours too: ended by its id.
            with contextlib.suppress(subprocess.CalledProcessError):
                for pid in _ip("netns", "pids", space.name).split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
                _ip("netns", "del", space.name)
        self.namespaces.clear()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def sweep_stale(prefix: str = "brk-") -> list[str]:
    """Delete the namespaces an earlier, killed run left (``brk-<pid>-*`` of a dead pid).

    Only the namespaces: a run that could not close its lab had its processes
    ended with it. Returns the names deleted."""
    ours = re.compile(rf"^{re.escape(prefix)}(\d+)-\S+")
    found = (ours.match(line) for line in _ip("netns", "list").splitlines())
    stale = [m[0] for m in found if m is not None and not _alive(int(m[1]))]
    for name in stale:
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("netns", "del", name)
    return stale


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (signal 0 checks, sends nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(process: subprocess.Popen[Any], first: signal.Signals = signal.SIGTERM) -> None:
    """Signal ``process`` (and its group) with ``first``; SIGKILL after ``STOP_WAIT``."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, first)
    try:
        process.wait(STOP_WAIT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_WAIT)


def wait_for(check: Callable[[], bool], what: str, deadline: float = 30.0) -> None:
    """Poll ``check()`` every 0.05 s until true; ``AssertionError`` after ``deadline`` s.

    A bound for a loaded machine, never a timing claim."""
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)
