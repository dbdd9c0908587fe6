"""The demo target's shell: one SSH session channel relayed to bash on a real PTY.

Only ``pty-req`` + ``shell`` is served; ``exec`` and subsystems are refused.
Bytes go both ways without copying through Python more than once (event-loop
readiness callbacks on the PTY master, large reads), with flow control in both
directions. On disconnect the terminal is hung up like a dropped line and bash
is reaped; its exit status (or signal) goes back to the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import signal
import struct
import sys
import termios
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from broker.demo.user import ShellAccount
from broker.typing import Region

_READ_SIZE = 256 * 1024
_HANGUP_GRACE = 2.0
_PATH = "/usr/local/bin:/usr/bin:/bin"
_TERM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
_SIGNALS = frozenset({"INT", "QUIT", "TERM", "HUP", "KILL", "USR1", "USR2", "WINCH"})
# Signals a login shell must start with at their defaults. An ignored signal
# survives exec, and `broker run` started in the background (`&`, nohup) has
# SIGINT and SIGQUIT ignored: bash would then start with Ctrl-C ignored and
# untrappable. sshd resets them for its sessions too.
_RESET_SIGNALS = ("HUP", "INT", "QUIT", "PIPE", "TERM", "TSTP", "TTIN", "TTOU", "USR1", "USR2")
# Resets those signals and the signal mask, takes the PTY as controlling
# terminal, then execs bash. A separate program instead of preexec_fn, which
# can deadlock in a process with threads.
_CTTY = (
    "import fcntl,os,signal,sys,termios;"
    f"[signal.signal(getattr(signal,'SIG'+n),signal.SIG_DFL) for n in {_RESET_SIGNALS!r}];"
    "signal.pthread_sigmask(signal.SIG_SETMASK,());"
    "fcntl.ioctl(0,termios.TIOCSCTTY,0);"
    "os.execv(sys.argv[1],sys.argv[1:])"
)


@dataclass(frozen=True, slots=True)
class ShellSpec:
    """How to start the demo shell and what to greet with."""

    bash: str
    home: Path
    user: str
    region: Region
    account: ShellAccount | None = None
    """The account bash runs as (``demo_user``); None: the broker's own user."""

    def argv(self) -> list[str]:
        """The command line: the controlling-tty trampoline, then a login bash."""
        return [sys.executable, "-I", "-S", "-c", _CTTY, self.bash, "--login"]

    def env(self, term: str) -> dict[str, str]:
        """A fresh environment: nothing of the broker's own (secrets) leaks in."""
        return {
            "HOME": str(self.home),
            "USER": self.user,
            "LOGNAME": self.user,
            "SHELL": self.bash,
            "TERM": term,
            "PATH": _PATH,
            "LANG": "C.UTF-8",
            "DEMO_TARGET_REGION": self.region,
        }

    def credentials(self) -> dict[str, object]:
        """The subprocess options that drop to ``account``, groups included."""
        if self.account is None:
            return {}
        return {"user": self.account.uid, "group": self.account.gid, "extra_groups": []}

    def motd(self) -> bytes:
        """The first line the user sees."""
        return f"DEMO TARGET for region {self.region} -- not a customer system\r\n".encode()


def winsize(size: tuple[int, int, int, int]) -> bytes:
    """A ``struct winsize`` for (cols, rows, xpixels, ypixels), clamped to its fields."""
    cols, rows, xpix, ypix = (max(0, min(value, 0xFFFF)) for value in size)
    return struct.pack("HHHH", rows or 24, cols or 80, xpix, ypix)


def _report_exit(chan: asyncssh.SSHServerChannel[bytes], returncode: int) -> None:
    """Send the shell's exit status (or killing signal) and close the channel."""
    if returncode >= 0:
        chan.exit(returncode)
        return
    try:
        chan.exit_with_signal(signal.Signals(-returncode).name.removeprefix("SIG"))
    except ValueError:
        chan.exit(128 - returncode)


class PtyShell(asyncssh.SSHServerSession[bytes]):
    """One session channel: PTY + shell only, relayed to bash on a real PTY.

    Its task (spawn, relay, hang-up, reap) is added to ``tasks`` so the owner
    can wait for every shell to be gone.
    """

    def __init__(self, spec: ShellSpec, tasks: set[asyncio.Task[None]]) -> None:
        self._spec = spec
        self._tasks = tasks
        self._loop = asyncio.get_running_loop()
        self._chan: asyncssh.SSHServerChannel[bytes] | None = None
        self._term: str | None = None
        self._size = (80, 24, 0, 0)
        self._master = -1
        self._pending = bytearray()
        self._reading = self._writing = self._paused = False
        self._gone = asyncio.Event()

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        """Keep the channel to write to."""
        self._chan = chan

    def pty_requested(
        self, term_type: str, term_size: tuple[int, int, int, int], term_modes: object
    ) -> bool:
        """Accept the PTY; an odd TERM value becomes ``dumb``."""
        self._term = term_type if _TERM.fullmatch(term_type) else "dumb"
        self._size = term_size
        return True

    def shell_requested(self) -> bool:
        """A shell only on a PTY: this is a demo of an interactive terminal."""
        return self._term is not None

    def exec_requested(self, command: str) -> bool:
        """Refused: no commands (and so no scp or rsync)."""
        return False

    def subsystem_requested(self, subsystem: str) -> bool:
        """Refused: no sftp or other subsystems."""
        return False

    def session_started(self) -> None:
        """Open the PTY now (so early input and resizes land), spawn bash async."""
        assert self._chan is not None
        assert self._term is not None
        self._master, slave = os.openpty()
        if self._spec.account is not None:  # the terminal is the user's, as sshd does
            os.fchown(slave, self._spec.account.uid, -1)
        os.set_blocking(self._master, False)
        self._apply_size()
        self._chan.write(self._spec.motd())
        task = self._loop.create_task(self._run(slave, self._term))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        """Keystrokes to the PTY, buffering when the PTY is full."""
        if self._master >= 0:
            self._pending += data
            self._flush()

    def eof_received(self) -> bool:
        """Ignore EOF and keep the channel open, as sshd does on a PTY."""
        return True

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        """Apply the new size; the kernel sends SIGWINCH to the foreground job."""
        self._size = (width, height, pixwidth, pixheight)
        self._apply_size()

    def signal_received(self, signal_name: str) -> None:
        """Deliver an allowed signal to the PTY's foreground process group."""
        if signal_name not in _SIGNALS or self._master < 0:
            return
        with contextlib.suppress(OSError):
            group = os.tcgetpgrp(self._master)
            # 0 (no session yet) would mean our own group to killpg: never signal ourselves.
            if group > 0 and group != os.getpgrp():
                os.killpg(group, getattr(signal, f"SIG{signal_name}"))

    def pause_writing(self) -> None:
        """The client is slow: stop reading the PTY (bash blocks, nothing piles up)."""
        self._paused = True
        self._watch_output(False)

    def resume_writing(self) -> None:
        """The client caught up."""
        self._paused = False
        self._watch_output(True)

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop relaying; ``_run`` then hangs up and reaps the shell."""
        self._watch_output(False)
        self._watch_input(False)
        self._gone.set()

    def _apply_size(self) -> None:
        if self._master >= 0:
            fcntl.ioctl(self._master, termios.TIOCSWINSZ, winsize(self._size))

    async def _run(self, slave: int, term: str) -> None:
        """Spawn bash, relay until it exits or the client goes, then clean up."""
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._spec.argv(),
                stdin=slave,
                stdout=slave,
                stderr=slave,
                cwd=self._spec.home,
                env=self._spec.env(term),
                start_new_session=True,
                **self._spec.credentials(),  # type: ignore[arg-type]
            )
        except OSError:
            self._close_master()
            self._finish(127, b"demo target: the shell could not be started\r\n")
            return
        finally:
            os.close(slave)
        try:
            await self._relay(proc)
        finally:
            self._close_master()
            if proc.returncode is None:  # cancelled mid-hangup: do not leave it running
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
            # Off the event loop: the scan reads every process's stat, and with
            # hundreds of shells (the soak) it stalled the gateways' loop for
            # tens of ms per shell, delaying revocations by seconds.
            asyncio.get_running_loop().run_in_executor(None, kill_session, proc.pid)

    async def _relay(self, proc: asyncio.subprocess.Process) -> None:
        """Wait for whichever comes first: bash exiting or the client leaving."""
        self._watch_output(True)
        exited = asyncio.ensure_future(proc.wait())
        gone = asyncio.ensure_future(self._gone.wait())
        await asyncio.wait({exited, gone}, return_when=asyncio.FIRST_COMPLETED)
        gone.cancel()
        if exited.done():
            self._finish(exited.result(), self._drain())
        else:
            await self._hang_up(proc, exited)

    async def _hang_up(self, proc: asyncio.subprocess.Process, exited: asyncio.Future[int]) -> None:
        """Hang up like a dropped terminal line; kill the group if bash lingers.

        Bash passes SIGHUP on to its jobs before exiting.
        """
        self._close_master()
        for sig in (signal.SIGHUP, signal.SIGCONT):
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, sig)
        try:
            await asyncio.wait_for(asyncio.shield(exited), _HANGUP_GRACE)
        except TimeoutError:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            await exited

    def _drain(self) -> bytes:
        """Output bash wrote just before exiting, still in the PTY buffer."""
        chunks = []
        while self._master >= 0:
            try:
                chunk = os.read(self._master, _READ_SIZE)
            except OSError:  # EAGAIN: all read; EIO: no writer left
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def _finish(self, returncode: int, tail: bytes) -> None:
        """Flush the last output and report the exit status, if the client is still there."""
        if self._chan is not None and not self._gone.is_set() and self._send(tail):
            _report_exit(self._chan, returncode)

    def _send(self, data: bytes) -> bool:
        """Output to the client; False once its channel takes no more.

        The gateway may close its side (a session cut on revocation) before
        this channel's ``connection_lost``: the output then has nowhere to go.
        """
        if self._chan is None:
            return False
        try:
            self._chan.write(data)
        except BrokenPipeError:
            return False
        return True

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError:  # EIO: every slave fd closed, bash is exiting
            data = b""
        if not (data and self._send(data)):
            self._watch_output(False)

    def _flush(self) -> None:
        try:
            written = os.write(self._master, self._pending)
        except BlockingIOError:
            written = 0
        except OSError:  # the shell is gone: the input has nowhere to go
            written = len(self._pending)
        del self._pending[:written]
        self._watch_input(bool(self._pending))

    def _watch_output(self, on: bool) -> None:
        on = on and self._master >= 0 and not self._paused
        if on and not self._reading:
            self._loop.add_reader(self._master, self._on_readable)
        elif not on and self._reading:
            self._loop.remove_reader(self._master)
        self._reading = on

    def _watch_input(self, on: bool) -> None:
        """While the PTY is full, wait for it and stop reading the channel."""
        on = on and self._master >= 0
        if on == self._writing:
            return
        if on:
            self._loop.add_writer(self._master, self._flush)
        else:
            self._loop.remove_writer(self._master)
        self._writing = on
        if self._chan is not None and not self._gone.is_set():
            (self._chan.pause_reading if on else self._chan.resume_reading)()

    def _close_master(self) -> None:
        self._watch_output(False)
        self._watch_input(False)
        if self._master >= 0:
            os.close(self._master)
            self._master = -1
        self._pending.clear()


def kill_session(sid: int) -> None:
    """SIGKILL whatever is left in session ``sid``: the shell's jobs, once it is gone.

    Bash hangs up its jobs only when a SIGHUP kills it; when it first reads
    EOF from the closed terminal it exits quietly and its background jobs
    (each in its own process group) live on. They all stay in the session
    bash led, so the demo target ends the session, not just the group.
    """
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and _session_of(entry.name) == sid:
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), signal.SIGKILL)


def _session_of(pid: str) -> int | None:
    """The session id of process ``pid`` (None once it has gone).

    Raw bytes and ``os`` calls, not pathlib: this runs for every process on
    the machine (2.5 against 5.5 ms for 67 processes)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[3])  # after "pid (comm)": state, ppid, pgrp, session
