"""``load_config`` in AWS mode: the ``[aws]`` table is required, parsed and checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from broker.config import aws_settings, load_config
from broker.errors import InputError
from tests.aws.conftest import EU, US

REGION = {"bucket": "rec-eu", "kms_key_id": "alias/k", "table": "broker", "log_group": "/b/a"}


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    """``data`` as a JSON config file."""
    path = tmp_path / "broker.json"
    path.write_text(json.dumps(data))
    return path


def aws_config(**aws: Any) -> dict[str, Any]:
    """A valid AWS-mode config serving eu-central-1 and us-east-1, with ``aws`` overrides."""
    regions = {EU: REGION, US: {**REGION, "bucket": "rec-us"}}
    return {
        "mode": "aws",
        "regions": [EU, US],
        "aws": {"store_region": EU, "regions": regions, **aws},
    }


class TestAwsConfig:
    """AWS mode's part of the config."""

    def test_parsed_and_demo_targets_off(self, tmp_path: Path) -> None:
        """A valid table parses; demo targets are off unless the file turns them on."""
        config = load_config(write(tmp_path, aws_config()))
        assert config.demo_targets is False
        assert aws_settings(config).store() == (EU, "broker")
        turned_on = load_config(write(tmp_path, {**aws_config(), "demo_targets": True}))
        assert turned_on.demo_targets is True

    def test_local_mode_keeps_demo_targets(self, tmp_path: Path) -> None:
        """Local mode is untouched: demo targets on, no ``[aws]`` needed."""
        assert load_config(write(tmp_path, {})).demo_targets is True

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"aws": {}}, "aws"),
            ({"aws": None}, "aws"),
            ({"regions": [EU, US, "eu-west-2"]}, "aws.regions"),
            ({"aws": {"store_region": EU, "regions": {EU: REGION}}}, "aws.regions"),
            ({"aws": {"regions": {EU: REGION, US: REGION}, "colour": 1}}, "aws.colour"),
            ({"aws": {"regions": {EU: REGION, US: REGION}}}, "aws.store_region"),
        ],
    )
    def test_bad_aws_table_named(self, tmp_path: Path, change: dict[str, Any], field: str) -> None:
        """A missing, incomplete or unknown part of ``[aws]`` is an error naming it."""
        data = {**aws_config(), **change}
        if data["aws"] is None:
            del data["aws"]
        with pytest.raises(InputError) as caught:
            load_config(write(tmp_path, data))
        assert caught.value.field == field

    def test_store_region_of_its_own(self, tmp_path: Path) -> None:
        """The store may live in a control region no gateway serves, with its own endpoint."""
        own = {"store_region": "eu-west-1", "store_table": "control-store"}
        url = "http://127.0.0.1:4566"
        config = load_config(write(tmp_path, aws_config(**own, store_endpoint_url=url)))
        settings = aws_settings(config)
        assert settings.store() == ("eu-west-1", "control-store")
        assert settings.endpoints() == {"eu-west-1": url}

    def test_unknown_top_level_key_still_rejected(self, tmp_path: Path) -> None:
        """Adding ``aws`` kept the unknown-key check of the whole file."""
        with pytest.raises(InputError) as caught:
            load_config(write(tmp_path, {**aws_config(), "awz": {}}))
        assert caught.value.field == "awz"
