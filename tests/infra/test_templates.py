"""infra/: the CloudFormation templates lint clean, deploy in moto, and the broker
runs against the resources they make."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from broker.aws.anchor import KmsLogsAnchor
from broker.aws.clients import ClientFactory
from broker.aws.dynamodb.store import DynamoStore
from broker.aws.recordings import DONE, RecordingUploader, UploadPolicy
from broker.config.aws import AwsRegionSettings
from broker.events import MemorySink
from broker.models import Anchor
from tests.infra.conftest import EU, INFRA, admin_client
from tests.store.world import session, world

# moto's CloudFormation does not model AWS::S3::BucketPolicy and
# AWS::EC2::SecurityGroupEgress and warns (in its server thread); what they
# declare is checked on the template instead.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")

TEMPLATES = sorted(INFRA.glob("*.yaml"))


class TestLint:
    """cfn-lint."""

    def test_templates_exist(self) -> None:
        """Both stacks are present."""
        assert [t.name for t in TEMPLATES] == ["control-plane.yaml", "regional.yaml"]

    @pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
    def test_cfn_lint_clean(self, template: Path) -> None:
        """cfn-lint reports nothing."""
        lint = shutil.which("cfn-lint", path=str(Path(sys.executable).parent))
        assert lint is not None, "cfn-lint must be installed in the venv"
        result = subprocess.run([lint, str(template)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


class TestRegionalStack:
    """The regional stack's resources, as moto made them."""

    def test_bucket_encrypted_in_region(
        self, clients: ClientFactory, regional: dict[str, str]
    ) -> None:
        """The bucket exists in its region with SSE-KMS under the stack's own key."""
        s3, bucket = clients.client("s3", EU), regional["RecordingsBucket"]
        rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        default = rule["Rules"][0]["ApplyServerSideEncryptionByDefault"]
        assert default["SSEAlgorithm"] == "aws:kms"
        assert default["KMSMasterKeyID"] == regional["RecordingsKeyArn"]
        assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == EU
        # DescribeKey fails in moto on keys its CloudFormation made (policy kept as a
        # dict): the alias naming the key is checked instead.
        aliases = clients.client("kms", EU).list_aliases()["Aliases"]
        key_id = regional["RecordingsKeyArn"].rsplit("/", 1)[-1]
        assert ("alias/broker-recordings-eu-central-1", key_id) in {
            (a["AliasName"], a.get("TargetKeyId")) for a in aliases
        }

    # moto's CloudFormation applies neither the bucket policy, the public access
    # block, versioning nor the lifecycle: those are checked on the template text.
    @pytest.mark.parametrize(
        "declared",
        [
            'aws:SecureTransport: "false"',
            "s3:x-amz-server-side-encryption: aws:kms",
            "BlockPublicAcls: true",
            "BlockPublicPolicy: true",
            "IgnorePublicAcls: true",
            "RestrictPublicBuckets: true",
            "Status: Enabled",
            "ExpirationInDays: !Ref RecordingRetentionDays",
            "NoncurrentDays: !Ref RecordingRetentionDays",
            "Prefix: recordings/",
            "Prefix: recording-parts/",
            "recording-parts/*",
            "EnableKeyRotation: true",
        ],
    )
    def test_template_declares_protection(self, declared: str) -> None:
        """The regional template declares each bucket and key protection."""
        assert declared in (INFRA / "regional.yaml").read_text()

    def test_store_table_made(self, clients: ClientFactory, regional: dict[str, str]) -> None:
        """The store table exists with the three indexes the store queries."""
        table = clients.client("dynamodb", EU).describe_table(TableName=regional["StoreTable"])
        indexes = {i["IndexName"] for i in table["Table"]["GlobalSecondaryIndexes"]}
        assert indexes == {"by_kind", "by_ticket", "by_staff"}

    def test_log_group_and_role(self, clients: ClientFactory, regional: dict[str, str]) -> None:
        """The audit log group has a retention; the gateway role is limited to its region."""
        groups = clients.client("logs", EU).describe_log_groups(logGroupNamePrefix="/broker/audit")
        assert groups["logGroups"][0]["retentionInDays"] == 400
        role = regional["GatewayRoleArn"].rsplit("/", 1)[-1]
        iam = admin_client(clients, "iam", EU)
        policy = iam.get_role_policy(RoleName=role, PolicyName="gateway-in-region")
        document = policy["PolicyDocument"]
        if isinstance(document, str):  # moto returns the Python repr of the document
            document = ast.literal_eval(document)
        statements: list[dict[str, Any]] = document["Statement"]
        assert all("aws:RequestedRegion" in s["Condition"]["StringEquals"] for s in statements)

    def test_anchor_key_made(self, clients: ClientFactory, regional: dict[str, str]) -> None:
        """The audit anchor key exists under its alias, declared as an ECC signing key."""
        aliases = clients.client("kms", EU).list_aliases()["Aliases"]
        key_id = regional["AuditAnchorKeyArn"].rsplit("/", 1)[-1]
        assert ("alias/broker-audit-anchor-eu-central-1", key_id) in {
            (a["AliasName"], a.get("TargetKeyId")) for a in aliases
        }
        template = (INFRA / "regional.yaml").read_text()
        assert "KeySpec: ECC_NIST_P256\n      KeyUsage: SIGN_VERIFY" in template
        assert "Action: [kms:Sign, kms:Verify, kms:GetPublicKey, kms:DescribeKey]" in template

    async def test_anchors_go_to_the_stack_log_group(
        self, clients: ClientFactory, regional: dict[str, str]
    ) -> None:
        """Signed anchors land in the stack's audit group (moto's CloudFormation makes every
        key symmetric, so the signing key here is one of the declared spec made directly)."""
        kms = clients.client("kms", EU)
        key = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["Arn"]
        anchors = KmsLogsAnchor(clients, {EU: (key, regional["AuditLogGroup"])})
        made = Anchor(EU, 1, 4, "ab" * 32, 1, 4, 720, "2026-12-04T10:00:00.000000Z")
        await anchors.put(made)
        assert await anchors.latest(EU, made.writer) == made

    def test_uploader_runs_against_stack(
        self, clients: ClientFactory, regional: dict[str, str], tmp_path: Path
    ) -> None:
        """A recording uploads into the stack's bucket under the stack's key."""
        settings = AwsRegionSettings(
            EU,
            regional["RecordingsBucket"],
            regional["RecordingsKeyArn"],
            regional["StoreTable"],
            regional["AuditLogGroup"],
        )
        spool = tmp_path / "regions" / EU / "recordings"
        spool.mkdir(parents=True)
        (spool / "s-1.cast").write_bytes(b"recording")
        (spool / f"s-1.cast{DONE}").touch()
        uploader = RecordingUploader(clients, settings, tmp_path, MemorySink(), UploadPolicy())
        assert uploader.upload_ready() == 1

    async def test_store_runs_against_stack(
        self, clients: ClientFactory, regional: dict[str, str]
    ) -> None:
        """The DynamoDB store works on the table the stack made."""
        store = DynamoStore(clients, EU, regional["StoreTable"])
        try:
            await store.import_bundle(world())
            assert await store.create_session(session()) == session()
        finally:
            await store.close()
