"""Who the demo targets' shells run as: never root, never next to the broker's keys.

A demo shell is a real bash that anyone with a session can type into. Run as
the broker's own user it could read the region CA keys and the token-signing
key, which would let a demo user mint any session or any token. So:

* started as root (as CI is), every demo shell runs as ``broker-demo``, a
  system user of its own (created with ``useradd`` when missing), with no
  supplementary groups. Its HOME, ``<state>/regions/<region>/demo-target/home``,
  is owned by it; the folders above it are opened for traversal only (``o+x``,
  no listing), while every key folder stays 0700 and every key file 0600 to
  the broker's user, and the store file is made 0600 too. If the account or
  the way to its HOME cannot be had, the demo targets refuse to start (fail
  closed) with the reason;
* started as anyone else, the shell has to run as that user (only root can
  switch), and the broker says so with a loud warning at start.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from broker.audit.log import get_logger
from broker.errors import UnavailableError

DEMO_USER = "broker-demo"
NOT_ROOT_WARNING = (
    "DEMO TARGET SHELLS RUN AS THE BROKER'S OWN USER: anyone with a demo session can "
    "read the region CA keys and the token-signing key. Keep `make run` to your own "
    "machine, or start the broker as root so the shells run as " + DEMO_USER + "."
)
log = get_logger("broker.demo")


@dataclass(frozen=True, slots=True)
class ShellAccount:
    """The unprivileged account a demo shell runs as."""

    name: str
    uid: int
    gid: int


def shell_account() -> ShellAccount | None:
    """``broker-demo`` (created if missing) when root; None, loudly warned, otherwise."""
    if os.geteuid() != 0:
        log.warning("demo.shells_not_isolated", warning=NOT_ROOT_WARNING)
        return None
    return _existing() or _create()


def _existing() -> ShellAccount | None:
    try:
        entry = pwd.getpwnam(DEMO_USER)
    except KeyError:
        return None
    if entry.pw_uid == 0:
        raise UnavailableError("demo_user_unsafe", f"{DEMO_USER} must not have uid 0")
    return ShellAccount(DEMO_USER, entry.pw_uid, entry.pw_gid)


def _create() -> ShellAccount:
    """Add the system user; a concurrent start that added it first is fine too."""
    useradd = shutil.which("useradd")
    if useradd is None:
        raise UnavailableError(
            "demo_user_unavailable", f"running as root, but useradd is missing to add {DEMO_USER}"
        )
    argv = [useradd, "--system", "--user-group", "--no-create-home", "--home-dir",
            "/nonexistent", "--shell", "/usr/sbin/nologin", DEMO_USER]  # fmt: skip
    subprocess.run(argv, capture_output=True, check=False, timeout=30)  # noqa: S603
    found = _existing()
    if found is None:
        raise UnavailableError("demo_user_unavailable", f"could not add the user {DEMO_USER}")
    return found


def give_home(account: ShellAccount, state: Path, home: Path, made: Iterable[str]) -> None:
    """Make ``home`` and the files the broker ``made`` in it the account's, reachable
    from ``state`` by traversal only.

    Folders above ``state`` are not the broker's to change: if one of them
    does not let others through, the demo targets refuse to start."""
    state, home = state.resolve(), home.resolve()
    for folder in reversed(home.parents):
        if folder.is_relative_to(state):
            mode = stat.S_IMODE(folder.stat().st_mode) | 0o011
            os.chmod(folder, mode)  # traverse only, no listing: the way to its HOME
        elif not folder.stat().st_mode & stat.S_IXOTH:
            raise UnavailableError(
                "demo_home_unreachable",
                f"{DEMO_USER} cannot reach the state folder: a folder above it is not "
                "traversable by others (o+x)",
            )
    for store_file in state.glob("broker.db*"):
        os.chmod(store_file, 0o600)  # the state folder is traversable now
    # Only what the broker made: a walk could meet a hard link to a key.
    for path in (home, *(home / name for name in made)):
        os.chown(path, account.uid, account.gid, follow_symlinks=False)
