"""``broker.config``: defaults, file overrides, and refusals that name the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from broker.config import (
    REPLICA_ID,
    Config,
    config_from_mapping,
    config_to_mapping,
    host_port,
    load_config,
    replica_id,
    viewer_origin,
)
from broker.errors import InputError


class TestLoadConfig:
    """Loading TOML or JSON over the embedded defaults."""

    def test_defaults_are_local_and_loopback(self) -> None:
        """No file: local mode on 127.0.0.1 with three regions."""
        config = load_config()
        assert config.mode == "local"
        assert config.bind_host == "127.0.0.1"
        assert "eu-central-1" in config.regions

    def test_toml_overrides(self, tmp_path: Path) -> None:
        """A TOML file overrides the defaults it names."""
        path = tmp_path / "broker.toml"
        path.write_text('regions = ["eu-west-1"]\nidle_timeout_seconds = 60\n')
        config = load_config(path)
        assert config.regions == ("eu-west-1",)
        assert config.idle_timeout_seconds == 60

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"bind_host": "0.0.0.0"}, "bind_host"),
            ({"bind_host": "192.0.2.10"}, "bind_host"),
            ({"colour": "blue"}, "colour"),
            ({"api_port": "80"}, "api_port"),
            ({"auth": {"issuer": 3}}, "auth.issuer"),
            ({"mode": "cloud"}, "mode"),
            ({"mode": "aws"}, "aws"),
            ({"api_processes": 0}, "api_processes"),
            ({"api_processes": 65}, "api_processes"),
            ({"api_processes": "2"}, "api_processes"),
            ({"replica_id": "Eu_A"}, "replica_id"),
            ({"replica_id": "-eu"}, "replica_id"),
            ({"replica_id": "e" * 59}, "replica_id"),
            ({"ssh_port": 70000}, "ssh_port"),
            ({"viewer_port": -1}, "viewer_port"),
            ({"advertise_ssh": "nlb.example"}, "advertise_ssh"),
            ({"advertise_viewer": "nlb.example:http"}, "advertise_viewer"),
            ({"advertise_ssh": "bad host:22"}, "advertise_ssh"),
            ({"unit_dead_after_seconds": 1}, "unit_dead_after_seconds"),
        ],
    )
    def test_bad_settings_name_the_key(
        self, tmp_path: Path, data: dict[str, object], field: str
    ) -> None:
        """Unknown keys, wrong types, non-loopback binds and missing AWS settings are refused."""
        path = tmp_path / "broker.json"
        path.write_text(json.dumps(data))
        with pytest.raises(InputError) as refused:
            load_config(path)
        assert refused.value.field == field

    def test_non_loopback_allowed_only_explicitly(self, tmp_path: Path) -> None:
        """allow_non_loopback makes a wider bind possible on purpose."""
        path = tmp_path / "broker.json"
        path.write_text(json.dumps({"bind_host": "0.0.0.0", "allow_non_loopback": True}))
        assert load_config(path).bind_host == "0.0.0.0"

    def test_state_dir_from_environment(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """BROKER_STATE chooses the state folder when --state is not given."""
        monkeypatch.setenv("BROKER_STATE", str(tmp_path))
        assert load_config().state_dir == tmp_path
        assert Config().layout.region("eu-central-1") == Path("var/regions/eu-central-1")


class TestConfigMapping:
    """The mapping form an API worker process receives its config in."""

    def test_round_trip(self, tmp_path: Path) -> None:
        """``config_to_mapping`` then ``config_from_mapping`` gives the same config."""
        config = Config(
            state_dir=tmp_path,
            regions=("eu-west-1",),  # type: ignore[arg-type]
            api_processes=3,
            policy={"max_ttl_seconds": 600},
        )
        data = json.loads(json.dumps(config_to_mapping(config)))
        assert config_from_mapping(data) == config

    def test_several_api_processes_need_local_mode(self) -> None:
        """AWS mode builds its AWS parts once, so it refuses more than one API process."""
        data = config_to_mapping(Config(mode="aws", aws={"x": 1}, api_processes=2))
        with pytest.raises(InputError) as refused:
            config_from_mapping(data)
        assert refused.value.field == "api_processes"


class TestUnitSettings:
    """What ``broker region`` reads: its replica id and the addresses it advertises."""

    def test_unit_settings_accepted(self) -> None:
        """A replica id, ports and advertised NLB addresses load as given."""
        config = config_from_mapping(
            {"replica_id": "eu-a-1", "ssh_port": 2222, "advertise_ssh": "nlb.example:22",
             "advertise_viewer": "nlb.example:443", "unit_dead_after_seconds": 5}
        )  # fmt: skip
        assert replica_id(config) == "eu-a-1"
        assert host_port(config.advertise_ssh, "advertise_ssh") == ("nlb.example", 22)

    def test_default_replica_id_is_a_writer_safe_host_name(self) -> None:
        """No replica id: one made from the host name, valid as an audit writer id."""
        made = replica_id(Config())
        assert REPLICA_ID.fullmatch(made)
        assert made == replica_id(Config())  # stable: a restart takes over its own sessions


class TestViewerOrigin:
    """``advertise_viewer``: the origin of viewer links, as browsers send it in ``Origin``."""

    @pytest.mark.parametrize(
        ("value", "origin"),
        [
            ("https://support.example.com", "https://support.example.com"),
            ("https://support.example.com:443", "https://support.example.com"),
            ("https://support.example.com:8443", "https://support.example.com:8443"),
            ("HTTPS://Support.Example.COM", "https://support.example.com"),
            ("http://nlb.example", "http://nlb.example"),
            ("http://nlb.example:80", "http://nlb.example"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("nlb.example:443", "http://nlb.example:443"),
            ("nlb.example:80", "http://nlb.example"),
            ("127.0.0.1:8080", "http://127.0.0.1:8080"),
        ],
    )
    def test_accepted_forms_are_normalised(self, value: str, origin: str) -> None:
        """A scheme's default port is left out, scheme and host lower-cased; a bare
        ``host:port`` is http, as before the setting took a scheme."""
        assert viewer_origin(value) == origin
        assert viewer_origin(origin) == origin  # normalised is a fixed point
        assert config_from_mapping({"advertise_viewer": value}).advertise_viewer == value

    @pytest.mark.parametrize(
        "value",
        [
            "nlb.example",
            "nlb.example:http",
            "nlb.example:0",
            "https://",
            "https://nlb.example/",
            "https://nlb.example/viewer",
            "https://nlb.example:443/",
            "https://nlb.example?x=1",
            "https://nlb.example#t=1",
            "https://user@nlb.example",
            "https://user:secret@nlb.example",
            "ftp://nlb.example",
            "wss://nlb.example",
            "https//nlb.example",
            "https://nlb.example:",
            "https://nlb.example:0",
            "https://nlb.example:65536",
            "https://nlb.example:123456",
            "https://nlb.example:https",
            "https://nlb example",
            "https://[::1]:443",
            "::1:443",
        ],
    )
    def test_refused_forms_name_the_key(self, value: str) -> None:
        """Paths (even ``/``), queries, fragments, user info, other schemes, bad ports
        and IPv6 literals are refused at load, naming ``advertise_viewer``."""
        with pytest.raises(InputError) as refused:
            config_from_mapping({"advertise_viewer": value})
        assert refused.value.field == "advertise_viewer"
