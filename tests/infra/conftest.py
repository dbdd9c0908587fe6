"""Fixtures for infra/: one moto server for the module's stacks, a VPC with two subnets
per region, and the regional stacks of eu-central-1 (the store's home) and us-east-1."""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.decode import decode_str
from moto.elbv2.models import FakeLoadBalancer, elbv2_backends

from broker.aws.clients import ClientFactory
from broker.typing import Region
from tests.aws.conftest import fake_aws

INFRA = Path(__file__).resolve().parents[2] / "infra"
EU = Region("eu-central-1")
US = Region("us-east-1")
AMI = "ami-12c6146b"
ISSUER = "https://id.example.com/broker"

MOTO_CREATE_LB = FakeLoadBalancer.create_from_cloudformation_json


def template(name: str) -> dict[str, Any]:
    """A template parsed as CloudFormation reads it (short-form tags included)."""
    parsed, problems = decode_str((INFRA / name).read_text())
    assert not problems, problems
    return dict(parsed)


def _network_load_balancer(
    cls: type[FakeLoadBalancer],
    resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
    **_: Any,
) -> FakeLoadBalancer:
    """moto's CloudFormation drops a load balancer's ``Type`` (every one is an
    ``application`` balancer, which refuses TCP and TLS listeners); this passes it on.
    ``TestMotoGaps`` pins the gap, so the shim goes when moto learns it."""
    props = cloudformation_json["Properties"]
    return elbv2_backends[account_id][region_name].create_load_balancer(
        resource_name,
        props.get("SecurityGroups", []),
        props.get("Subnets", []),
        scheme=props.get("Scheme", "internet-facing"),
        loadbalancer_type=props.get("Type", "application"),
    )


@pytest.fixture(scope="session")
def clients() -> Iterator[ClientFactory]:
    """A moto server standing in for both regions, and a factory pointing at it."""
    with fake_aws() as server, pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            FakeLoadBalancer, "create_from_cloudformation_json", classmethod(_network_load_balancer)
        )
        yield ClientFactory({EU: server.url, US: server.url}, max_attempts=1)


def admin_client(clients: ClientFactory, service: str, region: Region) -> Any:
    """A client of a service the deployment uses but the broker does not (IAM, ACM, ELB,
    auto scaling), so not one its factory builds; on the same moto endpoint."""
    return boto3.client(service, region_name=region, endpoint_url=clients.endpoint(region))


@dataclass(frozen=True)
class Network:
    """One region's VPC, two subnets in two zones, and an ACM certificate for the viewer."""

    vpc: str
    subnets: tuple[str, str]
    certificate: str


def _network(clients: ClientFactory, region: Region, cidr: str) -> Network:
    ec2 = clients.client("ec2", region)
    vpc = ec2.create_vpc(CidrBlock=f"{cidr}.0.0/16")["Vpc"]["VpcId"]
    a, b = (
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"{cidr}.{n}.0/24", AvailabilityZone=f"{region}{z}")[
            "Subnet"
        ]["SubnetId"]
        for n, z in ((1, "a"), (2, "b"))
    )
    acm = admin_client(clients, "acm", region)
    certificate = acm.request_certificate(DomainName=f"{region}.broker.example")["CertificateArn"]
    return Network(vpc, (a, b), certificate)


@pytest.fixture(scope="session")
def network(clients: ClientFactory) -> Network:
    """The eu-central-1 network."""
    return _network(clients, EU, "10.9")


@pytest.fixture(scope="session")
def us_network(clients: ClientFactory) -> Network:
    """The us-east-1 network."""
    return _network(clients, US, "10.19")


def deploy(
    clients: ClientFactory, region: Region, name: str, template: str, **params: str
) -> dict[str, str]:
    """Create a stack in ``region`` and return its outputs."""
    cfn = clients.client("cloudformation", region)
    cfn.create_stack(
        StackName=name,
        TemplateBody=(INFRA / template).read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def deploy_regional(clients: ClientFactory, region: Region, net: Network) -> dict[str, str]:
    """The regional stack of ``region``, its store in eu-central-1."""
    return deploy(
        clients,
        region,
        "broker-regional",
        "regional.yaml",
        VpcId=net.vpc,
        SubnetA=net.subnets[0],
        SubnetB=net.subnets[1],
        ImageId=AMI,
        ViewerCertificateArn=net.certificate,
        PublicHostName=f"{region}.broker.example.com",
        StoreRegion=EU,
        StoreTableName="broker-store",
    )


@pytest.fixture(scope="session")
def regional(clients: ClientFactory, network: Network) -> dict[str, str]:
    """The regional stack of eu-central-1 (the store's home region)."""
    return deploy_regional(clients, EU, network)


@pytest.fixture(scope="session")
def us_regional(clients: ClientFactory, us_network: Network) -> dict[str, str]:
    """The regional stack of us-east-1 (its store elsewhere)."""
    return deploy_regional(clients, US, us_network)


@pytest.fixture(scope="session")
def stacks(regional: dict[str, str], us_regional: dict[str, str]) -> dict[Region, dict[str, str]]:
    """Both regional stacks' outputs by region."""
    return {EU: regional, US: us_regional}


def user_data(clients: ClientFactory, region: Region, launch_template: str) -> str:
    """The decoded user data of a launch template's latest version."""
    versions = clients.client("ec2", region).describe_launch_template_versions(
        LaunchTemplateId=launch_template
    )["LaunchTemplateVersions"]
    return base64.b64decode(versions[-1]["LaunchTemplateData"]["UserData"]).decode()


def bash_parses(script: str) -> bool:
    """Whether bash reads ``script`` without a syntax error (heredocs closed, quotes paired)."""
    return subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0


def systemd_problems(script: str, service: str, folder: Path) -> str:
    """What ``systemd-analyze verify`` says of the service file the script writes (its
    broker command swapped for ``/usr/bin/true``, which exists here); empty when clean."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    lines = script.splitlines()
    start = lines.index(f"cat > /etc/systemd/system/{service} <<'UNIT'") + 1
    body = "\n".join(lines[start : lines.index("UNIT", start)]) + "\n"
    path = folder / service
    path.write_text(body.replace("/opt/broker/bin/broker ", "/usr/bin/true "))
    done = subprocess.run(
        [analyze, "verify", str(path)], check=False, capture_output=True, text=True
    )
    return f"{done.returncode or ''}{done.stdout}{done.stderr}"


def write_config(script: str, section: str, target: Path) -> Path:
    """Run only the config-writing section of a user-data script (between its
    ``# <section> begin`` and ``end`` markers) with ``conf`` pointing at ``target``."""
    lines = script.splitlines()
    start, end = lines.index(f"# {section} begin"), lines.index(f"# {section} end")
    body = "\n".join(lines[start + 1 : end])
    subprocess.run(
        ["bash", "-euo", "pipefail", "-c", f'conf="$1"\n{body}', "bash", str(target)], check=True
    )
    return target
