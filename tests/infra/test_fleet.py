"""infra/regional.yaml: the region's fleet of units (`broker region`) behind a network
load balancer, as moto creates it, and the unit config its user data writes."""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from broker.aws.clients import ClientFactory
from broker.config import Config, aws_settings, load_config
from broker.typing import Region
from tests.infra.conftest import (
    EU,
    MOTO_CREATE_LB,
    US,
    Network,
    admin_client,
    bash_parses,
    systemd_problems,
    template,
    user_data,
    write_config,
)

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")

SSH, GATEWAY, VIEWER = 22, 2222, 8080
ENGINEERS = "10.0.0.0/8"
# S3 ARNs carry no region: the bucket's name ends with it instead.
UNIT_SETTINGS = ("ssh_port", "viewer_port", "advertise_ssh", "advertise_viewer")
# The unit's listening and advertised addresses are settings of the `units` branch
# (`broker region`); until it is merged the broker's own parser would refuse them.
needs_unit_settings = pytest.mark.skipif(
    not set(UNIT_SETTINGS) <= {f.name for f in fields(Config)},
    reason="the unit settings (ssh_port, viewer_port, advertise_*) come with `broker region`",
)
ARN_REGION = re.compile(
    r"^arn:aws:(?:s3:::[a-z0-9.-]+-\d{12}-([a-z0-9-]+)\b|[a-z0-9-]+:([a-z0-9-]*):)"
)


def _balancer(clients: ClientFactory, region: Region, stack: dict[str, str]) -> dict[str, Any]:
    elbv2 = admin_client(clients, "elbv2", region)
    found = [
        lb
        for lb in elbv2.describe_load_balancers()["LoadBalancers"]
        if lb["DNSName"] == stack["LoadBalancerDnsName"]
    ]
    assert len(found) == 1
    return dict(found[0])


def _group(clients: ClientFactory, region: Region, stack: dict[str, str]) -> dict[str, Any]:
    groups = admin_client(clients, "autoscaling", region).describe_auto_scaling_groups(
        AutoScalingGroupNames=[stack["UnitGroup"]]
    )["AutoScalingGroups"]
    return dict(groups[0])


def _target_groups(clients: ClientFactory, region: Region, arns: list[str]) -> dict[int, Any]:
    """The target groups by the unit port they forward to."""
    elbv2 = admin_client(clients, "elbv2", region)
    found = elbv2.describe_target_groups(TargetGroupArns=arns)["TargetGroups"]
    return {tg["Port"]: tg for tg in found}


def _script(clients: ClientFactory, region: Region, stack: dict[str, str]) -> str:
    return user_data(
        clients, region, _group(clients, region, stack)["LaunchTemplate"]["LaunchTemplateId"]
    )


def _role_statements(clients: ClientFactory, region: Region, stack: dict[str, str]) -> list[Any]:
    iam = admin_client(clients, "iam", region)
    role = stack["GatewayRoleArn"].rsplit("/", 1)[-1]
    document = iam.get_role_policy(RoleName=role, PolicyName="gateway-in-region")["PolicyDocument"]
    if isinstance(document, str):  # moto returns the Python repr of the document
        document = ast.literal_eval(document)
    return list(document["Statement"])


class TestLoadBalancer:
    """The network load balancer, its listeners and target groups."""

    def test_network_balancer_across_both_subnets(
        self, clients: ClientFactory, regional: dict[str, str], network: Network
    ) -> None:
        """An internal network balancer in both subnets, behind its own security group."""
        lb = _balancer(clients, EU, regional)
        assert (lb["Type"], lb["Scheme"]) == ("network", "internal")
        assert {z["SubnetId"] for z in lb["AvailabilityZones"]} == set(network.subnets)
        assert len(lb["SecurityGroups"]) == 1

    def test_listeners_forward_ssh_and_viewer(
        self, clients: ClientFactory, regional: dict[str, str], network: Network
    ) -> None:
        """TCP 22 forwards to the gateway port; TLS 443 (ACM certificate, TLS 1.2+) to the
        viewer port."""
        elbv2 = admin_client(clients, "elbv2", EU)
        arn = _balancer(clients, EU, regional)["LoadBalancerArn"]
        listeners = elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]
        by_port = {ls["Port"]: ls for ls in listeners}
        assert {p: ls["Protocol"] for p, ls in by_port.items()} == {SSH: "TCP", 443: "TLS"}
        assert by_port[443]["Certificates"] == [{"CertificateArn": network.certificate}]
        assert by_port[443]["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
        forwards = {p: ls["DefaultActions"][0]["TargetGroupArn"] for p, ls in by_port.items()}
        groups = _target_groups(clients, EU, list(forwards.values()))
        port_of = {tg["TargetGroupArn"]: port for port, tg in groups.items()}
        assert {p: port_of[arn] for p, arn in forwards.items()} == {SSH: GATEWAY, 443: VIEWER}

    def test_target_groups_check_healthz(
        self, clients: ClientFactory, regional: dict[str, str]
    ) -> None:
        """Both target groups are TCP and check the unit's HTTP /healthz on the viewer port."""
        arns = _group(clients, EU, regional)["TargetGroupARNs"]
        groups = _target_groups(clients, EU, arns)
        assert set(groups) == {GATEWAY, VIEWER}
        checks = {
            (
                tg["Protocol"],
                tg["HealthCheckProtocol"],
                tg["HealthCheckPort"],
                tg["HealthCheckPath"],
            )
            for tg in groups.values()
        }
        assert checks == {("TCP", "HTTP", str(VIEWER), "/healthz")}

    def test_dns_name_output(self, clients: ClientFactory, regional: dict[str, str]) -> None:
        """The stack outputs the balancer's DNS name, in its region."""
        assert _balancer(clients, EU, regional)["DNSName"].endswith(f".{EU}.elb.amazonaws.com")


class TestUnitGroup:
    """The auto scaling group of units and its launch template."""

    def test_group_spans_two_subnets(
        self, clients: ClientFactory, regional: dict[str, str], network: Network
    ) -> None:
        """Two units by default, in both subnets, registered with both target groups."""
        group = _group(clients, EU, regional)
        assert set(group["VPCZoneIdentifier"].split(",")) == set(network.subnets)
        assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (2, 2, 2)
        assert len(group["TargetGroupARNs"]) == 2
        assert group["HealthCheckType"] == "EC2"

    @pytest.mark.parametrize("region", [EU, US])
    def test_user_data_runs_broker_region(
        self, clients: ClientFactory, region: Region, stacks: dict[Region, dict[str, str]]
    ) -> None:
        """systemd runs `broker region` for the stack's own region; never `broker run`."""
        script = _script(clients, region, stacks[region])
        assert (
            f"/opt/broker/bin/broker region --region {region} "
            "--config /etc/broker/region.toml --state /var/lib/broker"
        ) in script
        assert "broker run" not in script
        assert "systemctl enable --now broker-region.service" in script
        assert bash_parses(script)

    def test_service_file_verifies(
        self, clients: ClientFactory, regional: dict[str, str], tmp_path: Path
    ) -> None:
        """systemd accepts the unit's service file as written (``systemd-analyze verify``)."""
        script = _script(clients, EU, regional)
        assert systemd_problems(script, "broker-region.service", tmp_path) == ""

    @pytest.mark.parametrize("region", [EU, US])
    def test_unit_config_advertises_the_load_balancer(
        self,
        clients: ClientFactory,
        region: Region,
        stacks: dict[Region, dict[str, str]],
        tmp_path: Path,
    ) -> None:
        """The unit binds the target groups' ports and sends clients to the region's public
        name on the balancer's listeners."""
        script = _script(clients, region, stacks[region])
        data = tomllib.loads(write_config(script, "unit config", tmp_path / "u.toml").read_text())
        host = f"{region}.broker.example.com"
        assert {k: data[k] for k in UNIT_SETTINGS} == {
            "ssh_port": GATEWAY,
            "viewer_port": VIEWER,
            "advertise_ssh": f"{host}:{SSH}",
            "advertise_viewer": f"https://{host}",
        }

    @needs_unit_settings
    def test_unit_config_is_the_stacks_resources(
        self, clients: ClientFactory, regional: dict[str, str], tmp_path: Path
    ) -> None:
        """The config the user data writes loads, serves only its region, and names the
        stack's bucket, keys, log group and (in the home region) the store table."""
        path = write_config(_script(clients, EU, regional), "unit config", tmp_path / "u.toml")
        config = load_config(path)
        settings = aws_settings(config)
        assert (config.mode, config.regions, config.ssh_port) == ("aws", (EU,), GATEWAY)
        mine = settings.region(EU)
        assert (mine.bucket, mine.kms_key_id, mine.log_group, mine.anchor_key_id) == (
            regional["RecordingsBucket"],
            regional["RecordingsKeyArn"],
            regional["AuditLogGroup"],
            regional["AuditAnchorKeyArn"],
        )
        assert (mine.secret_prefix, mine.endpoint_url) == ("broker", None)
        assert settings.store() == (EU, regional["StoreTable"])

    @needs_unit_settings
    def test_unit_config_outside_the_home_region(
        self, clients: ClientFactory, us_regional: dict[str, str], tmp_path: Path
    ) -> None:
        """A us-east-1 unit names its own resources and the store table in eu-central-1."""
        path = write_config(_script(clients, US, us_regional), "unit config", tmp_path / "u.toml")
        settings = aws_settings(load_config(path))
        assert set(settings.regions) == {US}
        assert settings.region(US).bucket == us_regional["RecordingsBucket"]
        assert settings.store() == (EU, "broker-store")


class TestUnitRole:
    """The units' instance role reaches only its own region (and the store's table)."""

    @staticmethod
    def _regions(statement: dict[str, Any]) -> set[str]:
        resources = statement["Resource"]
        arns = [resources] if isinstance(resources, str) else resources
        found = {m.group(1) or m.group(2) for arn in arns if (m := ARN_REGION.match(arn))}
        return found | {statement["Condition"]["StringEquals"]["aws:RequestedRegion"]}

    @pytest.mark.parametrize("region", [EU, US])
    def test_statements_name_only_this_region(
        self, clients: ClientFactory, region: Region, stacks: dict[Region, dict[str, str]]
    ) -> None:
        """Every statement names this region (in S3 ARNs, the bucket's name), the store
        statement the store's region; no wildcard region; ``*`` only for DescribeInstances."""
        statements = {s["Sid"]: s for s in _role_statements(clients, region, stacks[region])}
        store = statements.pop("SessionStore")
        assert self._regions(store) == {EU}
        for sid, statement in statements.items():
            assert self._regions(statement) == {region}, sid
            text = str(statement["Resource"])
            assert ":*:" not in text, sid
        assert [s for s, st in statements.items() if st["Resource"] == "*"] == ["FindTargets"]

    def test_secrets_only_under_the_region_prefix(
        self, clients: ClientFactory, us_regional: dict[str, str]
    ) -> None:
        """The unit may read and create only secrets named ``broker/<its region>/...``."""
        statements = {s["Sid"]: s for s in _role_statements(clients, US, us_regional)}
        assert statements["RegionSecrets"]["Resource"] == (
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:broker/us-east-1/*"
        )


class TestSecurityGroups:
    """Only what is needed is open."""

    @staticmethod
    def _ingress(clients: ClientFactory, group: str) -> list[Any]:
        ec2 = clients.client("ec2", EU)
        return list(
            ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"]
        )

    def test_units_admit_only_the_load_balancer(
        self, clients: ClientFactory, regional: dict[str, str]
    ) -> None:
        """The units take the gateway and viewer ports from the balancer's group, nothing else."""
        lb_group = _balancer(clients, EU, regional)["SecurityGroups"][0]
        rules = self._ingress(clients, regional["GatewaySecurityGroup"])
        assert sorted(
            (r["FromPort"], r["ToPort"], tuple(p["GroupId"] for p in r["UserIdGroupPairs"]))
            for r in rules
        ) == [(GATEWAY, GATEWAY, (lb_group,)), (VIEWER, VIEWER, (lb_group,))]
        assert not any(r["IpRanges"] for r in rules)

    def test_load_balancer_admits_engineers_on_two_ports(
        self, clients: ClientFactory, regional: dict[str, str]
    ) -> None:
        """The balancer takes SSH and 443 from the engineers' range only."""
        lb_group = _balancer(clients, EU, regional)["SecurityGroups"][0]
        rules = self._ingress(clients, lb_group)
        assert sorted((r["FromPort"], [i["CidrIp"] for i in r["IpRanges"]]) for r in rules) == [
            (SSH, [ENGINEERS]),
            (443, [ENGINEERS]),
        ]

    # moto's CloudFormation applies no egress rules: checked on the template.
    def test_load_balancer_egress_only_to_the_units(self) -> None:
        """The balancer's group may reach only the units' gateway and viewer ports."""
        egress = template("regional.yaml")["Resources"]["LoadBalancerSecurityGroup"]
        rules = egress["Properties"]["SecurityGroupEgress"]
        assert [(r["FromPort"], r["DestinationSecurityGroupId"]) for r in rules] == [
            ({"Ref": "GatewayPort"}, {"Ref": "GatewaySecurityGroup"}),
            ({"Ref": "ViewerPort"}, {"Ref": "GatewaySecurityGroup"}),
        ]


class TestTemplates:
    """What moto does not model, checked on the parsed templates."""

    @pytest.mark.parametrize("name", ["regional.yaml", "control-plane.yaml"])
    def test_string_parameters_validated(self, name: str) -> None:
        """Every free-text parameter has an AllowedPattern or AllowedValues."""
        params = template(name)["Parameters"]
        loose = [
            key
            for key, p in params.items()
            if p["Type"] in ("String", "CommaDelimitedList")
            and "AllowedPattern" not in p
            and "AllowedValues" not in p
        ]
        assert loose == []

    def test_two_different_subnets_required(self) -> None:
        """A rule refuses the same subnet twice (moto does not evaluate rules)."""
        rule = template("regional.yaml")["Rules"]["TwoAvailabilityZones"]
        assert rule["Assertions"][0]["Assert"] == {
            "Fn::Not": [{"Fn::Equals": [{"Ref": "SubnetA"}, {"Ref": "SubnetB"}]}]
        }

    def test_unit_role_uses_keys_only_through_regional_services(self) -> None:
        """The recordings key lets the units' role use it only via this region's S3 and
        Secrets Manager (moto keeps key policies unread: checked on the template)."""
        key = template("regional.yaml")["Resources"]["RecordingsKey"]["Properties"]
        statement = key["KeyPolicy"]["Statement"][1]
        assert statement["Principal"] == {"AWS": {"Fn::GetAtt": ["GatewayRole", "Arn"]}}
        assert statement["Condition"]["StringEquals"]["kms:ViaService"] == [
            {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"},
            {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"},
        ]

    def test_load_balancer_declared_network(self) -> None:
        """The template declares a network balancer with client IPs preserved."""
        resources = template("regional.yaml")["Resources"]
        assert resources["LoadBalancer"]["Properties"]["Type"] == "network"
        for name in ("SshTargets", "ViewerTargets"):
            attributes = resources[name]["Properties"]["TargetGroupAttributes"]
            assert {"Key": "preserve_client_ip.enabled", "Value": "true"} in attributes


class TestMotoGaps:
    """The moto behaviour conftest works around, pinned so the shim goes when moto changes."""

    def test_cloudformation_drops_the_balancer_type(
        self, clients: ClientFactory, network: Network
    ) -> None:
        """moto's own CloudFormation handler makes an application balancer of ``Type: network``."""
        made = MOTO_CREATE_LB(
            "pinned-gap",
            {"Properties": {"Type": "network", "Subnets": list(network.subnets)}},
            "123456789012",
            EU,
        )
        assert made.type == "application"

    def test_list_parameter_default_unsplit(self, clients: ClientFactory) -> None:
        """moto leaves a CommaDelimitedList's default one string (a given value is split),
        so the control-plane tests pass ``ServedRegions`` explicitly."""
        body = (
            "Parameters:\n  L: {Type: CommaDelimitedList, Default: 'a,b'}\n"
            "Resources:\n  G: {Type: AWS::Logs::LogGroup}\n"
            "Outputs:\n  J: {Value: !Join ['+', !Ref L]}\n"
        )
        cfn = clients.client("cloudformation", EU)
        cfn.create_stack(StackName="pinned-list-default", TemplateBody=body)
        outputs = cfn.describe_stacks(StackName="pinned-list-default")["Stacks"][0]["Outputs"]
        assert outputs[0]["OutputValue"] == "a+,+b"
