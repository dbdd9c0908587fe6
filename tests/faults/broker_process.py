"""A real ``broker run`` in a child process, and the real CLI and ssh against it."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from tests.fixtures.waiting import poll_until

START_SECONDS = 60.0


class BrokerProcess:
    """``broker run --state STATE`` in its own process group (demo targets included)."""

    def __init__(self, state: Path, home: Path) -> None:
        self.state = state
        self.env = {**os.environ, "BROKER_STATE": str(state), "HOME": str(home)}
        self.env.pop("BROKER_API", None)
        self.process: subprocess.Popen[bytes] | None = None
        self._groups: list[int] = []  # every run's process group, for the cleanup

    def start(self) -> None:
        """Start and wait for ``endpoints.json`` (a killed run's stale one is removed first)."""
        (self.state / "endpoints.json").unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "broker", "run", "--state", str(self.state)],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        self._groups.append(self.process.pid)
        started = poll_until(
            lambda: (self.state / "endpoints.json").exists() or self.process.poll() is not None,  # type: ignore[union-attr]
            START_SECONDS,
        )
        if not started or self.process.poll() is not None:
            self.kill_group()
            raise RuntimeError("broker run did not start")

    def cli(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """The real ``broker`` command against this broker's state."""
        return subprocess.run(
            [sys.executable, "-m", "broker", *argv],
            env=self.env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL the broker's main process only (its demo targets live on, as real hosts do)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM and wait: a clean stop."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def kill_group(self) -> None:
        """Whatever is left of every run's process group (cleanup)."""
        for group in self._groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=30)


class Shell:
    """The printed ``ssh`` command, running, with its output collected as it comes."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        words = shlex.split(command)
        argv = [*words[:-1], "-o", "BatchMode=yes", words[-1]]
        self.process = subprocess.Popen(
            argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.output = bytearray()
        self._reader = threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[bytes] | None) -> None:
        assert stream is not None
        while chunk := stream.read1(4096):  # type: ignore[attr-defined]
            self.output += chunk

    def type(self, text: str) -> None:
        """Send keystrokes."""
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode())
        self.process.stdin.flush()

    def shows(self, text: str, seconds: float = 30.0) -> bool:
        """Wait until the output contains ``text``."""
        return poll_until(lambda: text.encode() in self.output, seconds)

    def ended(self, seconds: float = 30.0) -> bool:
        """Wait until ssh has exited."""
        return poll_until(lambda: self.process.poll() is not None, seconds)

    def close(self) -> None:
        """Kill ssh if it still runs."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self._reader.join(timeout=10)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):  # a pipe to a dead ssh may refuse its flush
                    stream.close()


def endpoints(state: Path) -> dict[str, object]:
    """The running broker's ``endpoints.json``."""
    return dict(json.loads((state / "endpoints.json").read_text()))
