"""The demo target hosts in a process of their own, as real targets are other machines.

``broker run`` in local mode starts one child, ``python -m
broker.demo.process``, that runs a ``DemoTarget`` per region. Why not
in the broker's own process: each session's third SSH leg and its bash on a
PTY end there, and inside the broker they shared the event loop with the
gateways. Under the soak's load that loop ran seconds behind, and every
gateway's work (logins, relays, the polite close of a revoked session)
waited with it; apart, the worst revocation-to-close fell from ~4 s to
under 3 s (docs/benchmarks.md, "Revocation and the soak").

The exchange is two JSON lines. The parent writes the spec to the child's
stdin, ``{"state": DIR, "host": HOST, "targets": [{"region", "home",
"authorized_keys"}]}``; the child starts every target and answers on stdout
with ``{"targets": {REGION: {"port", "user", "host_key"}}}``, or
``{"error": {"code", "reason"}}``. It then serves until its stdin closes
(the parent stopped, or died) or SIGTERM, and stops every target, reaping
their shells. Started as root, it runs every shell as ``broker-demo``
(``demo_user``); otherwise it warns loudly that they run as its own user.
Its log lines go to the inherited stderr through the same redacting
pipeline as the broker's.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker.audit.keys import FileSecretSource
from broker.audit.log import configure_logging, get_logger
from broker.audit.redact import Redactor
from broker.demo.target import HOME_FILES, DemoTarget
from broker.demo.user import give_home, shell_account
from broker.errors import BrokerError, UnavailableError
from broker.shutdown import until_sigterm_or
from broker.typing import Region

log = get_logger("broker.demo")

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class DemoSpec:
    """One region's demo target, as the parent asks for it."""

    region: Region
    home: Path
    authorized_keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DemoEndpoint:
    """Where one region's running demo target listens, and how to trust it."""

    region: Region
    host: str
    port: int
    user: str
    host_key_openssh: str


class DemoHosts:
    """The parent's handle on the child process running every demo target."""

    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self._watch: asyncio.Task[None] | None = None

    async def start(
        self, state: Path, host: str, specs: list[DemoSpec]
    ) -> dict[Region, DemoEndpoint]:
        """Start the child and its targets; ``UnavailableError`` if it cannot."""
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", __name__, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self._process.stdin is not None
        self._process.stdin.write(_spec_line(state, host, specs))
        try:
            answer = await asyncio.wait_for(self._answer(), START_TIMEOUT)
        except (TimeoutError, ValueError) as error:
            await self.stop()
            failed = UnavailableError("demo_targets_failed", "the demo targets did not start")
            raise failed from error
        if "error" in answer:
            await self.stop()
            raise UnavailableError(answer["error"]["code"], answer["error"]["reason"])
        self._watch = asyncio.get_running_loop().create_task(self._report_exit(self._process))
        return {
            Region(region): DemoEndpoint(Region(region), host, t["port"], t["user"], t["host_key"])
            for region, t in answer["targets"].items()
        }

    async def _answer(self) -> dict[str, Any]:
        """The child's one answer line (``ValueError`` if it is not JSON: it died)."""
        assert self._process is not None
        assert self._process.stdout is not None
        answer: dict[str, Any] = json.loads(await self._process.stdout.readline())
        return answer

    async def _report_exit(self, process: asyncio.subprocess.Process) -> None:
        """Say so if the child ends while it should run: sessions to its targets now fail."""
        status = await process.wait()
        if self._process is process:
            log.error("demo.exited_unexpectedly", status=status, action="restart broker run")

    async def stop(self) -> int | None:
        """Close the child's stdin (its signal to stop) and wait; kill it if it hangs.

        Returns its exit status (0: it stopped its targets in order; None: none ran)."""
        process, self._process = self._process, None
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if process is None:
            return None
        if process.stdin is not None:
            process.stdin.close()
        try:
            return await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            log.warning("demo.killed", reason="did not stop in time", timeout_seconds=STOP_TIMEOUT)
            process.kill()
            return await process.wait()

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return None if self._process is None else self._process.pid


def _spec_line(state: Path, host: str, specs: list[DemoSpec]) -> bytes:
    targets = [
        {"region": s.region, "home": str(s.home), "authorized_keys": list(s.authorized_keys)}
        for s in specs
    ]
    return json.dumps({"state": str(state), "host": host, "targets": targets}).encode() + b"\n"


# -- the child -------------------------------------------------------------
def main() -> int:
    """The child's entry point: read the spec, serve, stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us in order
    spec = json.loads(sys.stdin.readline())
    secrets = FileSecretSource(Path(spec["state"]))
    configure_logging(redactor=Redactor(secrets), stream=sys.stderr)
    return asyncio.run(_serve(spec))


async def _serve(spec: dict[str, Any]) -> int:
    """Start every target, answer, run until told to stop, stop every target."""
    targets: list[DemoTarget] = []
    try:
        account = shell_account()
        for t in spec["targets"]:
            target = DemoTarget(t["region"], t["home"], t["authorized_keys"], account=account)
            if account is not None:
                give_home(account, Path(spec["state"]), target.home, HOME_FILES)
            targets.append(target)
            await target.start(spec["host"])
    except BrokerError as error:
        return await _refuse(targets, error.code, error.reason)
    except OSError as error:  # e.g. the port is taken
        return await _refuse(targets, "demo_target_unavailable", type(error).__name__)
    _answer({"targets": {t.region: _endpoint(t) for t in targets}})
    await _until_told_to_stop()
    await _stop_all(targets)
    return 0


async def _refuse(targets: list[DemoTarget], code: str, reason: str) -> int:
    """Answer with the error, stop what did start; the exit status."""
    _answer({"error": {"code": code, "reason": reason}})
    await _stop_all(targets)
    return 1


def _endpoint(target: DemoTarget) -> dict[str, object]:
    return {"port": target.port, "user": target.user, "host_key": target.host_key_openssh}


def _answer(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()


async def _until_told_to_stop() -> None:
    """Until stdin reaches its end (the parent closed it or died) or SIGTERM."""
    reader = asyncio.StreamReader()
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    try:
        await until_sigterm_or(reader.read())
    finally:
        transport.close()


async def _stop_all(targets: list[DemoTarget]) -> None:
    for target in targets:
        await target.stop()


if __name__ == "__main__":
    sys.exit(main())
