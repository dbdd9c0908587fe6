"""The residency topology: each role of the broker in a network namespace of its own.

::

    client -- cp        cp -- eu -- euaws -- cp      cp:     broker api + the store's moto
    client -- eu        cp -- us -- usaws -- cp      eu, us: broker region --region R
    client -- us        eu -- us  (must count 0)     euaws, usaws: the region's own moto
                                                     client: the engineer (CLI, ssh, viewer)

Links (each a veth pair): client<->cp, client<->eu, client<->us; cp<->eu,
cp<->us (the units use the store); eu<->euaws, us<->usaws (each unit's own
region storage, and only its own); cp<->euaws, cp<->usaws (the control plane
reads each region's CA key from that region's Secrets Manager to sign, and
writes its audit events of that region to its CloudWatch Logs, anchored
with its KMS key: the test shows no terminal byte crosses them); and
eu<->us, which nothing should use, so that "no traffic between the regions"
is a counter that reads zero rather than a route that does not exist.

Every process binds its namespace's service address; moto serves on
``MOTO_PORT`` and the API on ``API_PORT`` (each namespace has its own ports).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker.auth.local import LocalAuthority
from broker.clock import SystemClock
from broker.typing import Region
from tests.aws.conftest import EU, FAKE_ENV, US
from tests.cli.test_walkthrough import ssh_argv
from tests.residency.netns import Lab, Namespace, wait_for

REPO = Path(__file__).resolve().parents[2]
CONTROL = Region("eu-west-1")
"""The store's own region (its DynamoDB table), as in tests/aws/test_e2e.py."""
MOTO_PORT = 4566
API_PORT = 8080
UNIT_ROLES = {EU: "eu", US: "us"}
STORAGE_ROLES = {EU: "euaws", US: "usaws"}
ROLES = ("cp", "eu", "us", "euaws", "usaws", "client")
LINKS = (
    ("client", "cp"), ("client", "eu"), ("client", "us"),
    ("cp", "eu"), ("cp", "us"),
    ("eu", "euaws"), ("us", "usaws"),
    ("cp", "euaws"), ("cp", "usaws"),
    ("eu", "us"),
)  # fmt: skip
UNSERVED = "no live, healthy unit serves"
"""The API's 503 for a region without a registered, healthy unit."""
START_WAIT = 90.0
"""Seconds a role gets to come up on a loaded 2-core machine: a bound, not a claim."""


@dataclass
class World:
    """The lab, the resources in each moto, the configs, and an identity provider."""

    lab: Lab
    root: Path
    issuer: LocalAuthority
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    """The broker processes by role (cp, eu, us)."""
    motos: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    """The moto processes by the role of their namespace (cp, euaws, usaws)."""

    def space(self, role: str) -> Namespace:
        """The namespace of ``role``."""
        return self.lab.namespaces[role]

    @property
    def api_url(self) -> str:
        """The control plane's API, as the client reaches it."""
        return f"http://{self.space('cp').address}:{API_PORT}"

    def env(self, home: Path) -> dict[str, str]:
        """A process environment: fake AWS credentials, its own HOME, no inherited broker vars."""
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("BROKER_", "AWS_"))}
        return {**keep, **FAKE_ENV, "HOME": str(home), "PYTHONPATH": str(REPO)}

    def logs(self) -> str:
        """The tail of every broker role's log, for failure messages."""
        tails = []
        for role in self.roles:
            text = (self.root / role / "broker.log").read_text(errors="replace")
            tails.append(f"--- {role}:\n{text[-2000:]}")
        return "\n".join(tails)

    def state(self, role: str) -> Path:
        """The state folder of ``role`` (each role its own: they share no files)."""
        return self.root / role / "state"


def build(lab: Lab, root: Path) -> World:
    """The namespaces and links of the topology, nothing running yet."""
    spaces = {role: lab.namespace(role) for role in ROLES}
    for a, b in LINKS:
        lab.link(spaces[a], spaces[b])
    issuer = LocalAuthority.from_state(root / "issuer", clock=SystemClock())
    for role in ROLES:
        (root / role / "home").mkdir(parents=True)
    return World(lab, root, issuer)


def start_motos(world: World) -> None:
    """The store's moto in cp, each region's in its own namespace; resources made in each."""
    jobs = {"cp": ["--store-region", CONTROL, "--table", "broker-residency"]}
    jobs |= {STORAGE_ROLES[r]: ["--region", r] for r in (EU, US)}
    for role, extra in jobs.items():
        out = world.root / role / "moto.json"
        argv = [sys.executable, "-m", "tests.residency.moto_proc",
                "--host", world.space(role).address, "--port", str(MOTO_PORT),
                "--out", str(out), *extra]  # fmt: skip
        world.motos[role] = world.lab.spawn(
            world.space(role), argv, log=world.root / role / "moto.log",
            env=world.env(world.root / role / "home"),
        )  # fmt: skip
    for role in jobs:
        out = world.root / role / "moto.json"
        wait_for(out.exists, f"{role}'s moto server", START_WAIT)
        world.resources[role] = json.loads(out.read_text())


def aws_section(world: World, regions: Mapping[Region, str]) -> dict[str, Any]:
    """The ``[aws]`` table: the store in cp, each region's resources at its own moto."""
    section = {
        region: {
            **{k: v for k, v in world.resources[storage].items() if k != "url"},
            "endpoint_url": world.resources[storage]["url"],
            "secret_prefix": "residency",
        }
        for region, storage in regions.items()
    }
    return {
        "store_region": CONTROL,
        "store_table": world.resources["cp"]["table"],
        "store_endpoint_url": world.resources["cp"]["url"],
        # Only the recorder's ``.done`` marker makes a recording ready this soon.
        "recordings": {"quiet_seconds": 3600, "poll_seconds": 0.1, "max_backoff_seconds": 0.5},
        "regions": section,
        "targets": "inventory",
    }


def write_config(world: World, role: str, regions: Mapping[Region, str]) -> Path:
    """``role``'s config file: AWS mode, bound to its service address, demo targets on."""
    jwks = world.root / "jwks.json"
    jwks.write_text(json.dumps(world.issuer.jwks()))
    config = {
        "mode": "aws",
        "regions": list(regions),
        "bind_host": world.space(role).address,
        "allow_non_loopback": True,
        "api_port": API_PORT,
        "demo_targets": True,
        "auth": {"jwks_file": str(jwks)},
        "aws": aws_section(world, regions),
    }
    path = world.root / role / "broker.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def canary(region: Region, kind: str) -> str:
    """A random marker for one session's terminal output."""
    return f"CANARY-{region}-{kind}-{secrets.token_hex(8)}"


def typed(marker: str) -> str:
    """A command that prints ``marker`` without ``marker`` itself being typed (or echoed)."""
    return f"echo {marker[:1]}_{marker[1:]} | tr -d _"


@dataclass
class Engineer:
    """The engineer in the client namespace: the real CLI, ``ssh`` and a viewer socket."""

    world: World

    @property
    def _space(self) -> Namespace:
        return self.world.space("client")

    @property
    def _env(self) -> dict[str, str]:
        return self.world.env(self.world.root / "client" / "home")

    def broker(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``broker ARGS --api <control plane>`` in the client namespace."""
        argv = [str(Path(sys.executable).with_name("broker")), *args, "--api", self.world.api_url]
        return self.world.lab.run(self._space, argv, env=self._env)

    def try_open(
        self, ticket: str, staff: str, *, view: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """``broker session open --json`` with a token from the identity provider, as it ended."""
        token = self.world.issuer.mint_token(staff, "engineer")
        mode = ["--view"] if view else []
        return self.broker("session", "open", *mode, "--ticket", ticket, "--target", "app-1",
                           "--token", token, "--json")  # fmt: skip

    def open(self, ticket: str, staff: str, *, view: bool = False) -> dict[str, Any]:
        """A grant that must succeed (``try_open``); its answer.

        Right after the roles start, the API may not have read the unit registry
        yet (it does twice a second): that one answer is asked again, bounded."""
        end = time.monotonic() + START_WAIT
        done = self.try_open(ticket, staff, view=view)
        while UNSERVED in done.stderr and time.monotonic() < end:
            time.sleep(0.2)
            done = self.try_open(ticket, staff, view=view)
        assert done.returncode == 0, f"{done.stderr}\n{self.world.logs()}"
        grant: dict[str, Any] = json.loads(done.stdout)
        return grant

    def ssh(self, grant: dict[str, Any], script: str) -> subprocess.CompletedProcess[str]:
        """The grant's printed ``ssh`` command, with ``script`` as the typed input."""
        argv = ssh_argv(grant["ssh_command"])
        return self.world.lab.run(self._space, argv, env=self._env, input_text=script)

    def live_ssh(self, grant: dict[str, Any]) -> subprocess.Popen[str]:
        """The grant's ``ssh`` left open: type into its stdin, read its stdout."""
        return self.world.lab.interactive(
            self._space, ssh_argv(grant["ssh_command"]), env=self._env
        )

    def view(self, grant: dict[str, Any], lines: list[str]) -> dict[str, Any]:
        """Drive the grant's viewer link (``viewer_client``) to the session's end."""
        argv = [sys.executable, "-m", "tests.residency.viewer_client", grant["viewer_url"]]
        done = self.world.lab.run(self._space, argv, env=self._env, input_text="\n".join(lines))
        assert done.returncode == 0, f"{done.stderr}\n{self.world.logs()}"
        seen: dict[str, Any] = json.loads(done.stdout)
        return seen


def broker_argv(*args: str) -> list[str]:
    """The installed ``broker`` command with ``args``."""
    return [str(Path(sys.executable).with_name("broker")), *args]


def start_control_plane(world: World) -> subprocess.Popen[bytes]:
    """Spawn ``broker api`` in cp, signing for both regions (``wait_started`` waits)."""
    config = write_config(world, "cp", {EU: STORAGE_ROLES[EU], US: STORAGE_ROLES[US]})
    argv = broker_argv("api", "--config", str(config), "--state", str(world.state("cp")))
    return _spawn(world, "cp", argv)


def start_unit(world: World, region: Region) -> subprocess.Popen[bytes]:
    """Spawn ``broker region --region R`` in R's namespace, knowing only R's storage."""
    role = UNIT_ROLES[region]
    config = write_config(world, role, {region: STORAGE_ROLES[region]})
    argv = broker_argv("region", "--region", region, "--config", str(config),
                       "--state", str(world.state(role)))  # fmt: skip
    return _spawn(world, role, argv)


def _spawn(world: World, role: str, argv: list[str]) -> subprocess.Popen[bytes]:
    """Start one role's process, its output to ``<role>/broker.log``."""
    world.state(role).mkdir(parents=True, exist_ok=True)
    world.roles[role] = world.lab.spawn(
        world.space(role), argv, log=world.root / role / "broker.log",
        env=world.env(world.root / role / "home"),
    )  # fmt: skip
    return world.roles[role]


def wait_started(world: World, role: str) -> None:
    """Wait for ``role``'s endpoints document; its log in the error if it ended instead."""
    process, state = world.roles[role], world.state(role)
    # endpoints.api.json, endpoints.unit-<replica>.json: written once the role serves.
    ready = lambda: any(state.glob("endpoints*.json"))  # noqa: E731
    wait_for(lambda: ready() or process.poll() is not None, f"{role} to start", START_WAIT)
    log = (world.root / role / "broker.log").read_text(errors="replace")
    assert process.poll() is None, f"{role} ended at start:\n{log[-3000:]}"


def uploaded(world: World, region: Region) -> None:
    """Wait until the region's unit has uploaded every recording (its spool is empty)."""
    spool = world.state(UNIT_ROLES[region]) / "regions" / region / "recordings"
    wait_for(lambda: not list(spool.glob("*.cast*")), f"{region}'s uploads", START_WAIT)


@contextlib.contextmanager
def running(*, capture: bool) -> Iterator[World]:
    """The lab with the motos, the control plane and both units running; all gone after.

    With ``capture``, every link is captured from before the first process starts."""
    root = Path(tempfile.mkdtemp(prefix="broker-residency-"))
    root.chmod(0o711)  # the demo targets' shells (``broker-demo``) traverse to their HOME
    try:
        with Lab(root) as lab:
            world = build(lab, root)
            if capture:
                lab.capture_all()
            start_motos(world)
            # All three at once: they meet only through the store, in any order.
            start_control_plane(world)
            for region in (EU, US):
                start_unit(world, region)
            try:
                for role in ("cp", *UNIT_ROLES.values()):
                    wait_started(world, role)
                yield world
            except BaseException:
                print(world.logs(), file=sys.stderr)  # pytest shows it with the failure
                raise
    finally:
        shutil.rmtree(root, ignore_errors=True)
