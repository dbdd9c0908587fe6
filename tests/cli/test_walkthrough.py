"""The README walkthrough, for real: ``broker run``, ``session open``, then ``ssh``.

A ``Runtime`` (what ``broker run`` starts) runs on ephemeral loopback ports;
the CLI is called as users call it; the printed command is run with the real
OpenSSH client and lands in the demo target's bash.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import subprocess
from pathlib import Path

import pytest

from broker.cli import main
from broker.runtime.root import Runtime


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI in a thread (it blocks on HTTP) and capture its output."""
    status = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return status, out, err


async def open_session_command(capsys: pytest.CaptureFixture[str], staff: str = "eng-de-1") -> str:
    """``broker session open`` on T-1001 / app-1 as ``staff``: the ssh command it printed."""
    status, out, _ = await cli(
        capsys, "session", "open", "--ticket", "T-1001", "--target", "app-1", "--as", staff
    )
    assert status == 0
    return out.strip().splitlines()[-1]


def ssh_argv(command: str) -> list[str]:
    """The printed ssh command as argv, never prompting (``BatchMode``)."""
    words = shlex.split(command)
    return [*words[:-1], "-o", "BatchMode=yes", words[-1]]


def run_ssh(command: str, script: str) -> subprocess.CompletedProcess[str]:
    """Run the printed ssh command with ``script`` as the typed input."""
    return subprocess.run(
        ssh_argv(command), input=script, capture_output=True, text=True, timeout=60, check=False
    )


class TestWalkthrough:
    """From an empty state to a shell on the demo target."""

    async def test_endpoints_written(self, running: Runtime) -> None:
        """endpoints.json names the API and one gateway per configured region."""
        document = json.loads((running.config.state_dir / "endpoints.json").read_text())
        assert document["api"].startswith("http://127.0.0.1:")
        assert set(document["gateways"]) == {"eu-central-1", "us-east-1", "eu-west-2"}

    async def test_open_session_and_ssh_into_demo_target(
        self, running: Runtime, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The printed ssh command opens a real shell through the region's gateway."""
        command = await open_session_command(capsys)
        assert command.startswith("ssh -tt ")
        assert f"-p {running.gateways['eu-central-1'].port}" in command  # type: ignore[index]
        done = await asyncio.to_thread(run_ssh, command, "echo hello-$((40+2))\nexit 3\n")
        assert "hello-42" in done.stdout
        assert "DEMO TARGET for region eu-central-1" in done.stdout
        assert done.returncode == 3

    async def test_denied_session_prints_reasons(
        self, running: Runtime, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A policy denial exits 2 with the policy's reason codes, no traceback."""
        status, _, err = await cli(
            capsys, "session", "open", "--ticket", "T-1001", "--target", "app-1", "--as", "eng-us-1"
        )
        assert status == 2
        assert "consent_required" in err
        assert "Traceback" not in err

    async def test_consent_grant_then_session(
        self, running: Runtime, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A customer admin's consent lets US staff in; revoking it ends the session."""
        status, token, _ = await cli(
            capsys, "token", "--subject", "cust-1", "--role", "customer_admin", "--org", "acme-de"
        )
        assert status == 0
        grant = [
            "consent",
            "grant",
            "--ticket",
            "T-1001",
            "--staff",
            "eng-us-1",
            "--until",
            "2099-01-01T00:00:00Z",
        ]
        status, out, err = await cli(capsys, *grant, "--token", token.strip(), "--json")
        assert status == 0, err
        consent_id = json.loads(out)["consent_id"]
        status, out, _ = await cli(
            capsys,
            "session",
            "open",
            "--ticket",
            "T-1001",
            "--target",
            "app-1",
            "--as",
            "eng-us-1",
            "--json",
        )
        session_id = json.loads(out)["session_id"]
        assert json.loads(out)["basis"] == "consent"
        await cli(
            capsys, "consent", "revoke", "--ticket", "T-1001", consent_id, "--token", token.strip()
        )
        status, out, _ = await cli(
            capsys, "session", "show", session_id, "--as", "eng-us-1", "--json"
        )
        assert json.loads(out)["state"] == "revoked"

    async def test_tia_after_a_session(
        self, running: Runtime, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """``broker tia`` prints the org's assessment, built from the verified trail.

        bank-de is eea_only, so ``session open`` picks the viewer on its ticket.
        """
        status, out, _ = await cli(
            capsys, "session", "open", "--ticket", "T-1003", "--target", "app-1", "--as", "eng-in-1"
        )
        assert status == 0
        assert "(view)" in out
        _, token, _ = await cli(capsys, "token", "--subject", "ops-1", "--role", "ops")
        period = ["--from", "2000-01-01T00:00:00Z", "--to", "2100-01-01T00:00:00Z"]
        status, out, err = await cli(
            capsys, "tia", "--org", "bank-de", *period, "--token", token.strip()
        )
        assert status == 0, err
        assert "# Transfer Impact Assessment: bank-de" in out
        assert "| IN | standard contractual clauses" in out
        status, out, err = await cli(
            capsys, "tia", "--org", "bank-de", *period, "--format", "json", "--token", token.strip()
        )
        assert json.loads(out)["excluded_scopes"] == {"cas": 1}
        pdf = running.config.state_dir.parent / "tia.pdf"
        status, _, err = await cli(
            capsys, "tia", "--org", "bank-de", *period, "--pdf", str(pdf), "--token", token.strip()
        )
        assert status == 0, err
        assert pdf.read_bytes().startswith(b"%PDF-")

    async def test_tia_counts_a_real_session(
        self, running: Runtime, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A real shell with a blocked clipboard write shows in the TIA: time and egress.

        On acme-de: a standard org that opted in to terminals (bank-de gets the viewer only).
        """
        opened = ["session", "open", "--ticket", "T-1001", "--target", "app-1", "--as", "eng-in-1"]
        command = (await cli(capsys, *opened))[1].strip().splitlines()[-1]
        script = "printf '\\033]52;c;eA==\\a'; sleep 1.5; echo done-$((1+1)); exit\n"
        done = await asyncio.to_thread(run_ssh, command, script)
        assert "done-2" in done.stdout
        await asyncio.sleep(0.5)  # the gateway records the close after the client has gone
        _, token, _ = await cli(capsys, "token", "--subject", "ops-1", "--role", "ops")
        period = ["--from", "2000-01-01T00:00:00Z", "--to", "2100-01-01T00:00:00Z"]
        status, out, err = await cli(
            capsys, "tia", "--org", "acme-de", *period, "--format", "json", "--token", token.strip()
        )
        assert status == 0, err
        tia = json.loads(out)
        (row,) = [r for r in tia["accesses"] if r["staff_country"] == "IN"]
        assert (row["basis"], row["sessions"]) == ("scc", 1)
        assert row["session_seconds"] >= 1
        assert tia["egress_blocked_by_kind"] == {"osc52": 1}
        assert tia["excluded_scopes"] == {}  # a standard org excludes nothing

    async def test_open_picks_the_allowed_mode(
        self, running: Runtime, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A view-only ticket gets a view session; ``--terminal`` there is refused, saying why."""
        opened = ["session", "open", "--ticket", "T-1002", "--target", "app-1", "--as", "eng-no-1"]
        status, out, err = await cli(capsys, *opened, "--json")
        assert status == 0, err
        grant = json.loads(out)
        assert (grant["access"], grant["certificate"], grant["ssh_command"]) == ("view", None, None)
        status, _, err = await cli(capsys, *opened, "--terminal")
        assert status == 2
        assert "terminal_not_allowed" in err
        status, out, _ = await cli(
            capsys, "session", "open", "--ticket", "T-1001", "--target", "app-1",
            "--as", "eng-de-1", "--view", "--json",
        )  # fmt: skip
        assert (status, json.loads(out)["access"]) == (0, "view")

    async def test_demo_terminal_access_is_audited(
        self, running: Runtime, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The demo import turning acme-de's terminals on is its own audit event."""
        assert running.auditor is not None
        running.auditor.flush()
        status, out, err = await cli(
            capsys, "audit", "show", "--event", "org.setting_changed", "--json"
        )
        assert status == 0, err
        records = [json.loads(line) for line in out.splitlines()]
        assert [
            (r["region"], r["org_id"], r["key"], r["old_value"], r["new_value"]) for r in records
        ] == [("eu-central-1", "acme-de", "terminal_access", False, True)]

    async def test_import_list_and_revoke(
        self, running: Runtime, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        """An admin imports a ticket; an engineer opens a session on it; ops list and revoke it."""
        document = {"tickets": [{"id": "T-4242", "org_id": "acme-de", "severity": 3}]}
        (tmp_path / "data.json").write_text(json.dumps(document))
        _, admin, _ = await cli(capsys, "token", "--subject", "root", "--role", "admin")
        status, out, err = await cli(
            capsys, "import", str(tmp_path / "data.json"), "--token", admin.strip()
        )
        assert status == 0, err
        assert "1 tickets" in out
        opened = [
            "session",
            "open",
            "--ticket",
            "T-4242",
            "--target",
            "app-1",
            "--as",
            "eng-ie-1",
            "--json",
        ]
        session_id = json.loads((await cli(capsys, *opened))[1])["session_id"]
        _, ops, _ = await cli(capsys, "token", "--subject", "ops-1", "--role", "ops")
        status, out, _ = await cli(
            capsys, "session", "list", "--ticket", "T-4242", "--token", ops.strip()
        )
        assert session_id in out
        assert "issued" in out
        status, out, _ = await cli(capsys, "session", "revoke", session_id, "--token", ops.strip())
        assert status == 0
        assert out.strip() == f"session {session_id} revoked"

    async def test_bad_import_file_names_field(
        self, running: Runtime, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        """A bad record fails with the API's reason naming its path, exit 2."""
        (tmp_path / "bad.json").write_text(
            json.dumps({"tickets": [{"id": "T-1", "org_id": "acme-de", "severity": 7}]})
        )
        _, admin, _ = await cli(capsys, "token", "--subject", "root", "--role", "admin")
        status, _, err = await cli(
            capsys, "import", str(tmp_path / "bad.json"), "--token", admin.strip()
        )
        assert status == 2
        assert "tickets[0].severity" in err

    async def test_every_command_has_help(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--help works for every command group and exits 0."""
        for group in (
            "run",
            "session",
            "consent",
            "token",
            "import",
            "policy",
            "audit",
            "tia",
            "recording",
        ):
            with pytest.raises(SystemExit) as exit_info:
                main([group, "--help"])
            assert exit_info.value.code == 0
            assert "usage: broker" in capsys.readouterr().out
