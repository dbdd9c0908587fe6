"""infra/control-plane.yaml: the API replicas (`broker api`), as moto creates them, and
the config their user data writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.aws.clients import ClientFactory
from broker.config import aws_settings, load_config
from tests.infra.conftest import (
    AMI,
    EU,
    ISSUER,
    US,
    Network,
    bash_parses,
    deploy,
    systemd_problems,
    template,
    user_data,
    write_config,
)

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")


def _deploy(clients: ClientFactory, network: Network, name: str, **params: str) -> dict[str, str]:
    return deploy(
        clients,
        EU,
        name,
        "control-plane.yaml",
        VpcId=network.vpc,
        SubnetIds=",".join(network.subnets),
        ImageId=AMI,
        TokenIssuer=ISSUER,
        **params,
    )


@pytest.fixture(scope="module")
def control(clients: ClientFactory, network: Network) -> dict[str, str]:
    """The control plane in eu-central-1, serving eu-central-1 and us-east-1 (given
    explicitly: moto leaves a list parameter's default unsplit, one string)."""
    return _deploy(clients, network, "broker-control", ServedRegions=f"{EU},{US}")


class TestControlPlaneStack:
    """The control-plane stack."""

    def test_deploys(self, clients: ClientFactory, control: dict[str, str]) -> None:
        """The API role, security group and log group exist."""
        assert control["ApiRoleArn"].endswith("role/broker-api")
        groups = clients.client("ec2", EU).describe_security_groups(
            GroupIds=[control["ApiSecurityGroup"]]
        )
        assert groups["SecurityGroups"][0]["IpPermissions"][0]["FromPort"] == 8443

    def test_user_data_runs_broker_api(
        self, clients: ClientFactory, control: dict[str, str]
    ) -> None:
        """systemd runs `broker api`, never `broker run` nor a regional unit."""
        script = user_data(clients, EU, control["ApiLaunchTemplate"])
        assert (
            "/opt/broker/bin/broker api --config /etc/broker/api.toml --state /var/lib/broker"
        ) in script
        assert "broker run" not in script
        assert "broker region" not in script
        assert bash_parses(script)

    def test_service_file_verifies(
        self, clients: ClientFactory, control: dict[str, str], tmp_path: Path
    ) -> None:
        """systemd accepts the API's service file as written (``systemd-analyze verify``)."""
        script = user_data(clients, EU, control["ApiLaunchTemplate"])
        assert systemd_problems(script, "broker-api.service", tmp_path) == ""

    def test_config_names_every_served_region(
        self, clients: ClientFactory, control: dict[str, str], tmp_path: Path
    ) -> None:
        """The config loads: both served regions with their stacks' names, the store here,
        tokens from the identity provider."""
        script = user_data(clients, EU, control["ApiLaunchTemplate"])
        config = load_config(write_config(script, "api config", tmp_path / "api.toml"))
        settings = aws_settings(config)
        assert (config.mode, config.regions, config.api_port) == ("aws", (EU, US), 8443)
        assert (config.auth.issuer, config.auth.jwks_file) == (ISSUER, "/etc/broker/jwks.json")
        assert settings.store() == (EU, "broker-store")
        us = settings.region(US)
        assert (us.bucket, us.kms_key_id, us.log_group, us.secret_prefix) == (
            "broker-recordings-123456789012-us-east-1",
            "alias/broker-recordings-us-east-1",
            "/broker/audit",
            "broker",
        )

    def test_store_region_not_served(
        self, clients: ClientFactory, network: Network, tmp_path: Path
    ) -> None:
        """When the home region serves no tickets, the store's table is named on its own."""
        out = _deploy(
            clients, network, "broker-control-2", Prefix="alt", ServedRegions="us-east-1,eu-west-2"
        )
        script = user_data(clients, EU, out["ApiLaunchTemplate"])
        config = load_config(write_config(script, "api config", tmp_path / "api.toml"))
        settings = aws_settings(config)
        assert config.regions == (US, "eu-west-2")
        assert settings.store() == (EU, "broker-store")
        assert settings.region(US).bucket == "alt-recordings-123456789012-us-east-1"

    def test_ca_key_encryption_declared(self) -> None:
        """The API may use a served region's KMS keys only through Secrets Manager
        (moto does not evaluate policies: checked on the template)."""
        statements = template("control-plane.yaml")["Resources"]["ApiRole"]["Properties"][
            "Policies"
        ][0]["PolicyDocument"]["Statement"]
        kms = next(s for s in statements if s["Sid"] == "RegionCaKeysEncryption")
        assert kms["Condition"] == {
            "StringEquals": {"aws:RequestedRegion": {"Ref": "ServedRegions"}},
            "StringLike": {"kms:ViaService": "secretsmanager.*.amazonaws.com"},
        }
