"""Shared fixtures. Real servers on ephemeral loopback ports live in ``tests/fixtures/``."""

import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from structlog.stdlib import ProcessorFormatter

from broker.config import Config
from broker.runtime.root import Runtime


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A fresh folder others may traverse but not list (pytest's own is 0700 under a
    0700 root).

    Started as root, the demo targets' shells run as ``broker-demo``, which has
    to reach its HOME inside the state folder; the broker opens the folders
    from the state folder down for traversal but refuses to touch (and will
    not start past) private folders above it (``broker.demo.user``).
    """
    folder = Path(tempfile.mkdtemp(prefix="broker-test-"))
    folder.chmod(0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def _leave_logging_as_found() -> Iterator[None]:
    """Undo what a broker started in-process does to logging (``configure_logging``).

    Its redacting handler stayed on the root logger, and asyncssh's level with
    it, for every later test: the tuning tests that turn on asyncssh's packet
    log then scrubbed each packet dump for phone numbers, 40-45 s each
    instead of 0.2 s. Only handlers of that pipeline are removed; pytest's
    own capture handlers come and go by themselves.
    """
    root, asyncssh_logger = logging.getLogger(), logging.getLogger("asyncssh")
    before, levels = root.handlers[:], (root.level, asyncssh_logger.level)
    yield
    for handler in root.handlers[:]:
        if isinstance(handler.formatter, ProcessorFormatter) and handler not in before:
            root.removeHandler(handler)
    root.setLevel(levels[0])
    asyncssh_logger.setLevel(levels[1])


@pytest.fixture
async def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Runtime]:
    """A local-mode broker with demo data, demo targets and gateways."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BROKER_STATE", str(tmp_path / "state"))
    monkeypatch.delenv("BROKER_API", raising=False)
    runtime = Runtime(Config(state_dir=tmp_path / "state"))
    await runtime.start()
    yield runtime
    await runtime.stop()
