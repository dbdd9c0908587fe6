"""The demo shell's pure parts and its edges; its relay runs end to end in test_target."""

from __future__ import annotations

import os
import struct
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from broker.demo.shell import PtyShell, ShellSpec, winsize
from broker.typing import Region

SPEC = ShellSpec("/usr/bin/bash", Path("/srv/demo/home"), "support", Region("eu-west-3"))


class TestWinsize:
    """``winsize`` packs any client-supplied size into a valid ``struct winsize``."""

    @given(st.tuples(*[st.integers(min_value=0, max_value=2**32 - 1)] * 4))
    def test_any_uint32_size_packs_within_field_range(self, size):
        """Out-of-range values are clamped, never raised on, and 0 cells mean 80x24."""
        rows, cols, xpix, ypix = struct.unpack("HHHH", winsize(size))
        assert rows == (min(size[1], 0xFFFF) or 24)
        assert cols == (min(size[0], 0xFFFF) or 80)
        assert (xpix, ypix) == (min(size[2], 0xFFFF), min(size[3], 0xFFFF))

    def test_rows_come_before_columns(self):
        """The kernel's order is rows, cols; SSH sends width first."""
        assert struct.unpack("HHHH", winsize((132, 43, 0, 0))) == (43, 132, 0, 0)


class TestShellSpec:
    """What the demo shell is started with."""

    def test_environment_is_built_from_scratch(self, monkeypatch):
        """Only the listed variables exist: nothing inherited from the broker."""
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-for-the-demo")
        env = SPEC.env("xterm-256color")
        assert set(env) == {
            "HOME",
            "USER",
            "LOGNAME",
            "SHELL",
            "TERM",
            "PATH",
            "LANG",
            "DEMO_TARGET_REGION",
        }
        assert (env["HOME"], env["TERM"], env["SHELL"]) == (
            "/srv/demo/home",
            "xterm-256color",
            "/usr/bin/bash",
        )

    def test_runs_a_login_bash_through_the_tty_trampoline(self):
        """The command ends by exec'ing ``bash --login``."""
        argv = SPEC.argv()
        assert argv[-2:] == ["/usr/bin/bash", "--login"]
        assert "TIOCSCTTY" in argv[argv.index("-c") + 1]

    def test_motd_names_the_region_and_says_demo(self):
        """The greeting cannot be mistaken for a customer host."""
        assert SPEC.motd() == b"DEMO TARGET for region eu-west-3 -- not a customer system\r\n"


class _ClosedChannel:
    """A channel the gateway already closed: asyncssh refuses writes with BrokenPipeError."""

    def __init__(self) -> None:
        self.exits: list[int] = []

    def write(self, data: bytes) -> None:
        raise BrokenPipeError("Channel not open for sending")

    def exit(self, status: int) -> None:
        self.exits.append(status)


class TestClosedChannel:
    """Output that arrives after the gateway closed the channel is dropped, not raised."""

    async def test_late_output_stops_the_reader(self) -> None:
        """Bash's output on a closed channel: no exception, the PTY is no longer watched."""
        shell, channel = PtyShell(SPEC, set()), _ClosedChannel()
        master, slave = os.openpty()
        try:
            shell._chan, shell._master = channel, master  # type: ignore[assignment]
            shell._reading = True  # as while relaying
            os.write(slave, b"late output\n")
            shell._on_readable()
            assert not shell._reading
        finally:
            os.close(slave)
            os.close(master)

    async def test_exit_not_reported_on_a_closed_channel(self) -> None:
        """The shell's last words and exit status have nowhere to go: nothing is sent."""
        shell, channel = PtyShell(SPEC, set()), _ClosedChannel()
        shell._chan = channel  # type: ignore[assignment]
        shell._finish(0, b"bye\r\n")
        assert channel.exits == []
