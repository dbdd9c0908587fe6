"""Broker configuration: embedded defaults, overridden by an optional file.

The file is TOML or JSON (by extension). Unknown keys are errors that name the
key, so a typo can never silently weaken a setting. Everything has a default,
so ``broker run`` works with no file at all (local mode, loopback only).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from broker.config.aws import AwsSettings
from broker.config.console import console_settings
from broker.config.notify import NotifySettings
from broker.errors import InputError
from broker.state import StateLayout
from broker.typing import Region, UnitId
from broker.validate import hostname

Mode = Literal["local", "aws"]

DEFAULT_REGIONS: tuple[Region, ...] = (
    Region("eu-central-1"),
    Region("us-east-1"),
    Region("eu-west-2"),
)


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """Token verification. Local mode signs its own; otherwise issuer + JWKS."""

    issuer: str = "urn:broker:local"
    audience: str = "urn:broker:api"
    jwks_file: str | None = None
    max_token_lifetime_seconds: int = 12 * 3600
    """The longest a token may live (``exp - iat``, and ``exp`` from now): a
    token without a bound on its life is a credential that never expires."""


@dataclass(frozen=True, slots=True)
class Config:
    """Every setting of one broker instance."""

    state_dir: Path = Path("var")
    mode: Mode = "local"
    bind_host: str = "127.0.0.1"
    allow_non_loopback: bool = False
    api_port: int = 0
    regions: tuple[Region, ...] = DEFAULT_REGIONS
    default_ttl_seconds: int = 900
    idle_timeout_seconds: int = 900
    demo_targets: bool = True
    api_processes: int = 1
    """How many processes serve the API on its one port (local mode; ``broker.runtime.workers``)."""
    policy: Mapping[str, Any] = field(default_factory=dict)
    auth: AuthConfig = field(default_factory=AuthConfig)
    aws: Mapping[str, Any] = field(default_factory=dict)
    """The raw ``[aws]`` table; ``aws_settings`` parses it (``mode = "aws"`` only)."""
    notify: Mapping[str, Any] = field(default_factory=dict)
    """The raw ``[notify]`` table (webhooks, delivery); ``notify_settings`` parses it."""
    console: Mapping[str, Any] = field(default_factory=dict)
    """The raw ``[console]`` table; ``console_settings`` parses it (checked at load)."""
    # -- the regional unit (``broker region``; docs/deployment.md) --------
    replica_id: str = ""
    """This unit's id among its region's replicas; empty: the host name (made an identifier)."""
    ssh_port: int = 0
    """The gateway's bind port (0: any free port; each served region needs its own when set)."""
    viewer_port: int = 0
    """The viewer's bind port (its ``/healthz`` is the unit's health check)."""
    advertise_ssh: str = ""
    """``host:port`` clients are sent to for SSH (an NLB's listener); empty: the bound address."""
    advertise_viewer: str = ""
    """The origin of the viewer links (an NLB's listener; ``viewer_origin``): ``https://host``,
    ``http://host:port`` or a bare ``host:port`` (http); empty: the bound address."""
    unit_dead_after_seconds: int = 3
    """A unit whose heartbeat (every second) is older than this is dead: the API stops
    sending sessions to it and a survivor takes its sessions over."""

    @property
    def layout(self) -> StateLayout:
        """Where everything of this instance lives below ``state_dir``."""
        return StateLayout(self.state_dir)


def _check_bind(config: Config) -> None:
    """Refuse a non-loopback bind unless the config explicitly allows it."""
    try:
        loopback = ipaddress.ip_address(config.bind_host).is_loopback
    except ValueError:
        loopback = config.bind_host == "localhost"
    if not loopback and not config.allow_non_loopback:
        raise InputError("bind_host", "only loopback addresses unless allow_non_loopback is set")


def _read(path: Path) -> dict[str, Any]:
    """Parse a TOML or JSON config file into a mapping."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as error:
        raise InputError("config", f"cannot read {path.name}: {type(error).__name__}") from error
    if not isinstance(data, dict):
        raise InputError("config", "must be a mapping")
    return data


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Convert one file value to the type of its default, naming the key on error."""
    if isinstance(default, AuthConfig):
        return _build(AuthConfig, value, prefix="auth.")
    if isinstance(default, Path):
        return Path(str(value))
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(name, "must be a list of strings")
        return tuple(Region(v) for v in value)
    if isinstance(default, bool) is not isinstance(value, bool) or (
        default is not None and not isinstance(value, type(default))
    ):
        raise InputError(name, f"must be a {type(default).__name__}")
    return value


def _build(cls: type[Any], data: Any, prefix: str = "") -> Any:
    """Instantiate dataclass ``cls`` from ``data``, rejecting unknown keys."""
    if not isinstance(data, dict):
        raise InputError(prefix.rstrip(".") or "config", "must be a mapping")
    defaults = cls()
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            raise InputError(f"{prefix}{key}", "unknown setting")
    values = {k: _coerce(f"{prefix}{k}", v, getattr(defaults, k)) for k, v in data.items()}
    return replace(defaults, **values)


def aws_settings(config: Config) -> AwsSettings:
    """The parsed ``[aws]`` table: required in AWS mode, covering every served region."""
    if not config.aws:
        raise InputError("aws", "required when mode is 'aws'")
    settings = AwsSettings.from_mapping(config.aws)
    settings.store()
    for region in config.regions:
        if region not in settings.regions:
            raise InputError("aws.regions", "every served region needs its AWS settings")
    return settings


def notify_settings(config: Config) -> NotifySettings:
    """The parsed ``[notify]`` table (empty: no webhooks)."""
    return NotifySettings.from_mapping(config.notify, aws=config.mode == "aws")


def _mode_defaults(config: Config, data: Mapping[str, Any]) -> Config:
    """AWS mode: validate ``[aws]``; demo targets only when the file asks for them."""
    if config.mode != "aws":
        return config
    aws_settings(config)
    return config if "demo_targets" in data else replace(config, demo_targets=False)


MAX_API_PROCESSES = 64


def _check_processes(config: Config) -> None:
    """Several API processes only in local mode: the AWS parts are built once per instance."""
    if not 1 <= config.api_processes <= MAX_API_PROCESSES:
        raise InputError("api_processes", f"must be between 1 and {MAX_API_PROCESSES}")
    if config.api_processes > 1 and config.mode != "local":
        raise InputError("api_processes", "more than one API process needs mode 'local'")


def _check_unit(config: Config) -> None:
    """The unit settings: an identifier, ports in range, advertised addresses."""
    if config.replica_id and not REPLICA_ID.fullmatch(config.replica_id):
        raise InputError("replica_id", "must be 1-58 of a-z 0-9 and inner '-'")
    for name in ("ssh_port", "viewer_port"):
        if not 0 <= getattr(config, name) <= 65535:
            raise InputError(name, "must be a port number (0-65535)")
    if config.advertise_ssh:
        host_port(config.advertise_ssh, "advertise_ssh")
    if config.advertise_viewer:
        viewer_origin(config.advertise_viewer)
    if config.unit_dead_after_seconds < 2:
        raise InputError("unit_dead_after_seconds", "must be at least 2 (heartbeats are 1 s)")


def host_port(value: str, name: str) -> tuple[str, int]:
    """``host:port`` split and checked, naming ``name`` on error."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise InputError(name, "must be host:port")
    return hostname(host, name), int(port)


DEFAULT_PORTS = {"http": 80, "https": 443}
"""The schemes a viewer origin may have, and the port each leaves unsaid."""
_AUTHORITY = re.compile(r"([^:/?#@\[\]\s]+)(?::([0-9]{1,5}))?")
"""``host[:port]`` and nothing else: no path (not even ``/``), query, fragment or user info."""
ORIGIN_FORMS = "must be https://host[:port], http://host[:port] or host:port"


def viewer_origin(value: str, name: str = "advertise_viewer") -> str:
    """The web origin ``value`` names, spelled as a browser sends it in ``Origin``.

    ``https://host[:port]`` or ``http://host[:port]``; a bare ``host:port`` is
    http (what the setting meant before it took a scheme). Scheme and host are
    lower-cased and the scheme's default port left out, so the viewer can
    compare ``Origin`` exactly. Anything an origin has not (a path, even
    ``/``; a query, fragment or user info) is refused rather than dropped, and
    so is an IPv6 literal (no form here could bracket it)."""
    scheme, sep, rest = value.partition("://")
    scheme = scheme.lower() if sep else "http"
    host, port = _authority(scheme, rest, name) if sep else host_port(value, name)
    if ":" in host:  # an IPv6 literal: an origin would need it bracketed
        raise InputError(name, ORIGIN_FORMS)
    suffix = "" if DEFAULT_PORTS[scheme] == port else f":{port}"
    return f"{scheme}://{host.lower()}{suffix}"


def _authority(scheme: str, rest: str, name: str) -> tuple[str, int]:
    """``host[:port]`` after ``://``: the scheme http or https, the port defaulted by it."""
    found = _AUTHORITY.fullmatch(rest)
    if scheme not in DEFAULT_PORTS or found is None:
        raise InputError(name, ORIGIN_FORMS)
    port = int(found[2]) if found[2] else DEFAULT_PORTS[scheme]
    if not 0 < port <= 65535:
        raise InputError(name, "must have a port from 1 to 65535")
    return hostname(found[1], name), port


REPLICA_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,56}[a-z0-9])?")
"""A replica id: it names the unit's audit chain (``unit-<id>``), a folder and a log stream."""


def replica_id(config: Config) -> UnitId:
    """The configured replica id, or one made from the host name (stable across restarts)."""
    if config.replica_id:
        return UnitId(config.replica_id)
    made = re.sub(r"[^a-z0-9-]", "-", socket.gethostname().lower())[:58].strip("-")
    return UnitId(made if REPLICA_ID.fullmatch(made) else "unit")


def load_config(path: Path | None = None, state_dir: Path | None = None) -> Config:
    """Defaults, then the file, then an explicit state folder (CLI/env wins)."""
    data = _read(path) if path else {}
    env_state = os.environ.get("BROKER_STATE")
    state = state_dir or (Path(env_state) if env_state else None)
    if state is not None:
        data = {**data, "state_dir": str(state)}
    return config_from_mapping(data)


def config_from_mapping(data: Mapping[str, Any]) -> Config:
    """A checked ``Config`` from a file's mapping (or one ``config_to_mapping`` made)."""
    config: Config = _build(Config, dict(data))
    if config.mode not in ("local", "aws"):
        raise InputError("mode", "must be 'local' or 'aws'")
    _check_bind(config)
    _check_processes(config)
    notify_settings(config)
    console_settings(config.console)
    _check_unit(config)
    return _mode_defaults(config, data)


def config_to_mapping(config: Config) -> dict[str, Any]:
    """``config`` as JSON-ready data that ``config_from_mapping`` turns back into it."""
    data = {f.name: getattr(config, f.name) for f in fields(Config)}
    data["state_dir"] = str(config.state_dir)
    data["regions"] = list(config.regions)
    data["auth"] = {f.name: getattr(config.auth, f.name) for f in fields(AuthConfig)}
    data["policy"], data["aws"] = dict(config.policy), dict(config.aws)
    data["notify"] = dict(config.notify)
    data["console"] = dict(config.console)
    return data
