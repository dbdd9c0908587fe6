"""``broker policy explain`` through ``broker.cli.main`` and the real console script."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from broker.cli import main

SCRIPT = Path(sys.executable).parent / "broker"
SINGLE = ["policy", "explain", "--org-region", "eu-central-1", "--tier", "eea_only"]
AT = ["--at", "2026-05-04T10:00:00+02:00"]


def lines(text: str) -> list[dict]:
    """Parse JSON Lines output."""
    return [json.loads(line) for line in text.splitlines()]


class TestSingle:
    """One decision from flags prints one JSON object."""

    def test_allowed(self, capsys):
        """Norwegian staff on an eea_only Frankfurt ticket: intra-eea."""
        assert main([*SINGLE, "--staff-country", "NO", *AT]) == 0
        (out,) = lines(capsys.readouterr().out)
        assert (out["id"], out["allow"], out["basis"]) == (None, True, "intra-eea")
        assert out["support_window"] == {"open_now": True, "next_open": None}

    def test_allowed_access_is_view_only_on_eea(self, capsys):
        """An EEA ticket of an eea_only org: the viewer only, even with --terminal-access."""
        assert main([*SINGLE, "--staff-country", "NO", *AT, "--terminal-access"]) == 0
        (out,) = lines(capsys.readouterr().out)
        assert out["access"] == ["view"]

    @pytest.mark.parametrize(
        ("flags", "access"), [([], ["view"]), (["--terminal-access"], ["view", "terminal"])]
    )
    def test_standard_org_opts_in_to_terminal(self, capsys, flags, access):
        """--terminal-access turns on terminals for a standard org's EEA ticket."""
        argv = ["policy", "explain", "--org-region", "eu-central-1", "--tier", "standard"]
        assert main([*argv, "--staff-country", "DE", *AT, *flags]) == 0
        (out,) = lines(capsys.readouterr().out)
        assert out["access"] == access

    def test_consent_caps_ttl(self, capsys):
        """US staff with a waiving consent ending in 20 minutes get 1200 seconds."""
        argv = [*SINGLE, "--staff-country", "US", *AT, "--consent-until", "2026-05-04T08:20:00Z"]
        assert main([*argv, "--consent-waives-eea-only"]) == 0
        (out,) = lines(capsys.readouterr().out)
        assert (out["basis"], out["max_ttl_seconds"]) == ("consent", 1200)
        assert "eea_only_waived" in out["reasons"]
        assert "waives_eea_only" in out["message"]

    def test_consent_without_waiver_denies(self, capsys):
        """An eea_only org's consent for US staff without the waiver does not count."""
        argv = [*SINGLE, "--staff-country", "US", *AT, "--consent-until", "2026-05-04T08:20:00Z"]
        assert main(argv) == 0
        (out,) = lines(capsys.readouterr().out)
        assert (out["allow"], out["access"]) == (False, [])
        assert out["reasons"][-1] == "consent_lacks_eea_only_waiver"
        assert "waives_eea_only" in out["message"]

    def test_inactive_closed_severity(self, capsys):
        """Flags for status, activity and severity reach the policy."""
        argv = [*SINGLE, "--staff-country", "DE", *AT, "--ticket-status", "closed"]
        assert main([*argv, "--staff-inactive", "--severity", "1"]) == 0
        (out,) = lines(capsys.readouterr().out)
        assert out["reasons"] == ["staff_inactive", "ticket_closed"]

    @pytest.mark.parametrize(
        ("extra", "field"),
        [
            (["--staff-country", "DE", "--at", "2026-05-04T10:00:00"], "at"),
            (["--staff-country", "DE", "--severity", "9"], "severity"),
            (["--staff-country", "DE", "--severity", "high"], "severity"),
            ([], "staff_country"),
        ],
    )
    def test_invalid_input(self, capsys, extra, field):
        """Invalid flags print {id, error} naming the field and exit 1."""
        assert main([*SINGLE, *extra]) == 1
        (out,) = lines(capsys.readouterr().out)
        assert out["error"]["field"] == field

    def test_config_overrides(self, capsys, tmp_path):
        """--config applies policy overrides for what-ifs."""
        config = tmp_path / "policy.json"
        config.write_text(json.dumps({"extend_scc": ["BR"]}))
        argv = [*SINGLE, "--tier", "standard", "--staff-country", "BR", *AT]
        assert main([*argv, "--config", str(config)]) == 0
        assert lines(capsys.readouterr().out)[0]["basis"] == "scc"

    def test_bad_config(self, capsys, tmp_path):
        """A config with an unknown key fails with status 2 naming it."""
        config = tmp_path / "policy.json"
        config.write_text(json.dumps({"eea_list": ["DE"]}))
        assert main([*SINGLE, "--staff-country", "DE", "--config", str(config)]) == 2
        assert "eea_list" in capsys.readouterr().err


BATCH = [
    '{"id": 1, "staff_country": "CH", "org_region": "eu-central-2", "tier": "eea_only"}',
    '{"id": 2, "staff_country": "DE", "org_region": "eu-central-1", "tier": "x", "severity": 5}',
    "not json",
    "",
    '{"id": "n", "staff_country": "NO", "org_region": "eu-west-1", "tier": "eea_only", '
    '"at": "2026-03-28T10:00:00+01:00"}',
]


class TestBatch:
    """JSON Lines in, one line out per line in, in order."""

    def check(self, text: str) -> None:
        """The expected outputs for ``BATCH``."""
        out = lines(text)
        assert [o["id"] for o in out] == [1, 2, None, None, "n"]
        assert out[0]["basis"] == "not-eea"
        assert out[1]["error"]["field"] == "severity"
        assert out[2]["error"]["field"] == "line"
        assert out[3]["error"]["field"] == "line"
        assert out[4]["support_window"]["next_open"] == "2026-03-30T09:00:00+02:00"

    def test_file(self, capsys, tmp_path):
        """A file batch exits 1 because some lines were invalid."""
        path = tmp_path / "batch.jsonl"
        path.write_text("\n".join(BATCH) + "\n")
        assert main(["policy", "explain", "--batch", str(path)]) == 1
        self.check(capsys.readouterr().out)

    def test_stdin(self, capsys, monkeypatch):
        """``-`` reads standard input."""
        monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(BATCH) + "\n"))
        assert main(["policy", "explain", "--batch", "-"]) == 1
        self.check(capsys.readouterr().out)

    def test_all_valid_exits_zero(self, capsys, tmp_path):
        """Denials are answers: a batch of valid lines exits 0."""
        path = tmp_path / "batch.jsonl"
        path.write_text(BATCH[0] + "\n" + BATCH[0].replace("CH", "BR") + "\n")
        assert main(["policy", "explain", "--batch", str(path)]) == 0
        assert len(lines(capsys.readouterr().out)) == 2

    def test_access_and_waiver_per_line(self, capsys, tmp_path):
        """Each line's output carries its access modes; a waiver is named in its reasons."""
        records = [
            {"id": "a", "staff_country": "DE", "org_region": "eu-central-1", "tier": "standard"},
            {"id": "b", "staff_country": "DE", "org_region": "eu-central-1", "tier": "standard",
             "terminal_access": True},
            {"id": "c", "staff_country": "US", "org_region": "eu-central-1", "tier": "eea_only",
             "consent_until": "2099-01-01T00:00:00Z", "consent_waives_eea_only": True},
            {"id": "d", "staff_country": "BR", "org_region": "us-east-1", "tier": "standard"},
        ]  # fmt: skip
        path = tmp_path / "batch.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        assert main(["policy", "explain", "--batch", str(path)]) == 0
        out = {o["id"]: o for o in lines(capsys.readouterr().out)}
        assert {k: o["access"] for k, o in out.items()} == {
            "a": ["view"], "b": ["view", "terminal"], "c": ["view"], "d": ["view", "terminal"],
        }  # fmt: skip
        assert "eea_only_waived" in out["c"]["reasons"]

    def test_batch_with_switches(self, capsys):
        """The single-decision switches cannot be mixed with a batch either."""
        assert main(["policy", "explain", "--batch", "-", "--terminal-access"]) == 2
        assert "batch" in capsys.readouterr().err

    def test_missing_file(self, capsys, tmp_path):
        """An unreadable batch file fails with status 2 naming the option."""
        assert main(["policy", "explain", "--batch", str(tmp_path / "none.jsonl")]) == 2
        assert "batch" in capsys.readouterr().err

    def test_batch_with_flags(self, capsys):
        """Batch and single-decision flags do not mix."""
        assert main(["policy", "explain", "--batch", "-", "--tier", "standard"]) == 2
        assert "batch" in capsys.readouterr().err


class TestConsoleScript:
    """The installed ``broker`` script runs the same command."""

    def test_script_batch_on_stdin(self):
        """Real process, real stdin: one line in, one line out, exit 0."""
        result = subprocess.run(
            [str(SCRIPT), "policy", "explain", "--batch", "-"],
            input=BATCH[0] + "\n",
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        (out,) = lines(result.stdout)
        assert (out["id"], out["allow"], out["basis"]) == (1, True, "not-eea")
