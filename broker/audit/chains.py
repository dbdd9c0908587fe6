"""The chains of a region: one folder per writer, found, locked, and moved from the old layout.

A region's audit folder holds one chain folder per writer
(``audit/<writer>/``). Each writer process owns its chain alone: it holds an
exclusive ``flock`` on the chain's ``LOCK`` file while open, so a second
process that names the same writer is refused rather than interleaving
records; two writers of a region never touch the same file.

A state folder from before writers kept one chain directly in ``audit/``.
That chain is ``main``'s (``broker.audit.segments``), and ``main``'s writer
moves it into ``audit/main/`` when it opens (``adopt_legacy``) by hard links,
so that at every instant one complete chain is visible: the segments are
linked first, then ``HEAD`` (the commit: from then on ``main/HEAD`` names
the chain), then the old names are removed. A crash anywhere is finished by
the next open. Readers (``chain_folders``) read the old layout as ``main``
until the commit, so ``broker audit verify`` needs no migration.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from broker.audit.segments import HEAD_NAME, list_segments, sync_directory
from broker.errors import UnavailableError
from broker.state import MAIN_WRITER, WRITER_ID, StateLayout
from broker.typing import WriterId

LOCK_NAME = "LOCK"


def chain_folders(audit: Path) -> dict[WriterId, Path]:
    """Each writer's chain folder below a region's ``audit`` folder, by writer id.

    A chain from before writers, not yet adopted, is ``main``'s, in ``audit`` itself."""
    found: dict[WriterId, Path] = {}
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(audit):
            if entry.is_dir() and WRITER_ID.fullmatch(entry.name):
                found[WriterId(entry.name)] = Path(entry.path)
    if has_legacy(audit) and not (audit / MAIN_WRITER / HEAD_NAME).exists():
        found[MAIN_WRITER] = audit
    return dict(sorted(found.items()))


def has_legacy(audit: Path) -> bool:
    """Does ``audit`` hold a chain of the old layout (``HEAD`` or segments directly in it)?"""
    return (audit / HEAD_NAME).exists() or bool(list_segments(audit))


def adopt_legacy(audit: Path, *, sync: bool) -> None:
    """Move an old-layout chain into ``audit/main/`` (crash-safe; see the module doc).

    Raises ``UnavailableError`` (``audit_chain_broken``) when the old chain has
    segments but no ``HEAD``, or when both layouts hold different files."""
    if not has_legacy(audit):
        return
    main = audit / MAIN_WRITER
    main.mkdir(mode=0o700, exist_ok=True)
    if not (main / HEAD_NAME).exists():
        if not (audit / HEAD_NAME).exists():
            raise _broken("the chain from before writers has no HEAD")
        for _, path in list_segments(audit):
            _link(path, main / path.name)
        if sync:
            sync_directory(main)
        _link(audit / HEAD_NAME, main / HEAD_NAME)
        if sync:
            sync_directory(main)
    for path in [*(p for _, p in list_segments(audit)), audit / HEAD_NAME]:
        _unlink_adopted(path, main / path.name)
    with contextlib.suppress(FileNotFoundError):
        (audit / (HEAD_NAME + ".tmp")).unlink()
    if sync:
        sync_directory(audit)


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except FileExistsError:
        if not os.path.samefile(source, target):
            raise _broken(f"{target.name} differs in the old and the new layout") from None


def _unlink_adopted(old: Path, new: Path) -> None:
    """Remove ``old`` once ``new`` is the same file; anything else is not ours to drop."""
    if not old.exists():
        return
    if not new.exists() or not os.path.samefile(old, new):
        raise _broken(f"{old.name} differs in the old and the new layout")
    old.unlink()


def _broken(why: str) -> UnavailableError:
    return UnavailableError(
        "audit_chain_broken", f"audit chain is broken ({why}); run 'broker audit verify'"
    )


class ChainLock:
    """The exclusive claim of one process on one chain folder (``LOCK``, ``flock``)."""

    def __init__(self, folder: Path, region: str, writer: WriterId) -> None:
        """Take the lock, or raise ``UnavailableError`` (``audit_writer_busy``).

        The folder and the region's audit folder above it are made 0700."""
        folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.mkdir(exist_ok=True, mode=0o700)
        self._fd: int | None = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.release()
            raise UnavailableError(
                "audit_writer_busy",
                f"another process writes the audit chain of writer {writer!r}",
                region=region,
            ) from None

    def release(self) -> None:
        """Give the chain up (idempotent); the kernel also does when the process dies."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def region_chains(state_dir: Path, region: str) -> dict[WriterId, Path]:
    """``chain_folders`` of ``<state>/regions/<region>/audit``."""
    return chain_folders(StateLayout(state_dir).audit(region))
