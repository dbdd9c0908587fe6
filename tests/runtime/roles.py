"""Split roles as real processes: ``broker api`` and ``broker region`` on one state folder.

Each role runs as ``python -m broker <role>`` with its own config file; the
helpers wait for its endpoints file, drive the CLI in a child process too,
hold a real OpenSSH session open on a pipe, and read the store file directly
(the roles share nothing else).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from tests.fixtures.waiting import poll_until

EU = "eu-central-1"
START_SECONDS = 60.0


@dataclass
class Cluster:
    """The processes of one test: a control plane and regional replicas on one state folder."""

    root: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, BinaryIO] = field(default_factory=dict)

    @property
    def state(self) -> Path:
        """The shared state folder."""
        return self.root / "state"

    def env(self, **extra: str) -> dict[str, str]:
        """The children's environment: a private HOME and the state folder."""
        env = {k: v for k, v in os.environ.items() if k not in ("BROKER_API", "BROKER_TOKEN")}
        return {**env, "HOME": str(self.root / "home"), "BROKER_STATE": str(self.state), **extra}

    def start(
        self,
        name: str,
        role: str,
        *args: str,
        state: Path | None = None,
        wait: bool = True,
        **config: Any,
    ) -> dict[str, Any]:
        """Start ``broker <role>`` (``config`` as a JSON file, nested tables allowed) and
        wait for its endpoints document; ``state``: a state folder of its own (``--state``).
        ``wait=False``: return at once, with no document (``{}``)."""
        config_file = self.root / f"{name}.json"
        config_file.write_text(json.dumps(config))
        if state is not None:
            args = (*args, "--state", str(state))
        endpoints = self.endpoints_path(role, config.get("replica_id", ""), state)
        log = self.logs[name] = (self.root / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(  # our own CLI, fixed arguments
            [sys.executable, "-m", "broker", role, "--config", str(config_file), *args],
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        if not wait:
            return {}
        assert poll_until(endpoints.exists, START_SECONDS), self.log(name)
        return dict(json.loads(endpoints.read_text()))

    def endpoints_path(self, role: str, replica: str, state: Path | None = None) -> Path:
        """Where ``role`` writes its endpoints document (in ``state``, or the shared folder)."""
        name = "endpoints.api" if role == "api" else f"endpoints.unit-{replica}"
        return (state or self.state) / f"{name}.json"

    def log(self, name: str) -> str:
        """The tail of a process's stderr, for failure messages."""
        return (self.root / f"{name}.log").read_text(errors="replace")[-3000:]

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        """Signal one process and wait for it to end."""
        process = self.processes.pop(name)
        process.send_signal(sig)
        process.wait(timeout=30)
        self.logs.pop(name).close()

    def stop_all(self) -> None:
        """Stop every process still running."""
        for name in list(self.processes):
            self.stop(name)

    def cli(self, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run ``broker <argv>`` as a child process."""
        return subprocess.run(  # our own CLI, fixed arguments
            [sys.executable, "-m", "broker", *argv],
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def open_session(self, *auth: str) -> tuple[str, list[str]]:
        """``broker session open`` for eng-de-1 on T-1001/app-1: the session id and ssh argv.

        ``auth``: how the CLI proves who asks (``--as`` in local mode, else ``--token T``)."""
        done = self.cli("session", "open", "--ticket", "T-1001", "--target", "app-1",
                        *(auth or ("--as", "eng-de-1")))  # fmt: skip
        assert done.returncode == 0, done.stderr
        argv = shlex.split(done.stdout.strip().splitlines()[-1])
        return argv[-1].split("@")[0], [*argv[:-1], "-o", "BatchMode=yes", argv[-1]]

    def query(self, sql: str, *params: str) -> list[tuple[Any, ...]]:
        """Rows of the shared store file (read-only)."""
        conn = sqlite3.connect(f"file:{self.state / 'broker.db'}?mode=ro", uri=True)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def session_state(self, session_id: str) -> tuple[str, str | None]:
        """The session's state and end reason, from the store."""
        rows = self.query("SELECT state, end_reason FROM sessions WHERE id = ?", session_id)
        return rows[0][0], rows[0][1]


def at_port(argv: list[str], port: int) -> list[str]:
    """The ssh argv pointed at another replica's gateway port, expecting the same host key.

    ``HostKeyAlias`` keeps the known_hosts entry of the address the broker
    printed (as an NLB's one address would), so the other replica must show
    the region's key or ssh refuses."""
    index = argv.index("-p")
    alias = f"[127.0.0.1]:{argv[index + 1]}"
    return [*argv[:index], "-o", f"HostKeyAlias={alias}", "-p", str(port), *argv[index + 2 :]]


@dataclass
class Shell:
    """A real ``ssh -tt`` session held open on pipes."""

    process: subprocess.Popen[bytes]
    seen: bytes = b""

    @classmethod
    def open(cls, argv: list[str], env: dict[str, str]) -> Shell:
        """Start ssh and wait for the demo target's prompt banner."""
        process = subprocess.Popen(  # the ssh command the broker printed
            argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        os.set_blocking(process.stdout.fileno(), False)  # type: ignore[union-attr]
        shell = cls(process)
        assert shell.say("echo up-$((40+2))", b"up-42"), shell.seen
        return shell

    def say(self, line: str, expect: bytes, seconds: float = 20.0) -> bool:
        """Type ``line``; True once ``expect`` shows in the output."""
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        self.process.stdin.flush()
        return poll_until(lambda: self._read() and expect in self.seen, seconds)

    def _read(self) -> bool:
        assert self.process.stdout is not None
        chunk = self.process.stdout.read()
        if chunk:
            self.seen += chunk
        return True

    def ended(self, seconds: float = 20.0) -> bool:
        """Whether ssh exits within ``seconds``."""
        return poll_until(lambda: self.process.poll() is not None, seconds)

    def close(self) -> None:
        """Kill ssh if it still runs."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):  # ssh may have gone with unread input
                    pipe.close()
