"""``broker api`` and ``broker region`` as separate processes on one state folder.

The roles meet only through the store: the unit registers and heartbeats,
the API sends grants to a live unit of the region, and a real OpenSSH client
reaches the demo target through the unit.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.recording.castfile import recording_path
from broker.recording.files import read_info
from broker.typing import Region
from tests.fixtures.waiting import poll_until
from tests.runtime.roles import EU, START_SECONDS, Cluster, Shell, at_port

UNIT = {"replica_id": "eu-a", "unit_dead_after_seconds": 3}


def shell_at(cluster: Cluster, unit: dict[str, object]) -> tuple[str, Shell]:
    """A new session's ssh shell opened at ``unit``'s gateway (its endpoints document)."""
    session_id, argv = cluster.open_session()
    port = int(str(unit["gateways"][EU]).split(":")[1])  # type: ignore[index]
    return session_id, Shell.open(at_port(argv, port), cluster.env())


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A state folder for role processes; every process is stopped after the test."""
    started = Cluster(tmp_path)
    yield started
    started.stop_all()


def healthz(viewer: str) -> tuple[int, dict[str, object]]:
    """The unit's ``/healthz`` answer."""
    try:
        with urllib.request.urlopen(
            f"{viewer}/healthz", timeout=10
        ) as answer:  # a loopback test server
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def recording_status(cluster: Cluster, api: str, session_id: str) -> tuple[int, str]:
    """What ``GET /v1/sessions/{id}/recording`` answers ops at ``api``: status and code."""
    token = cluster.cli("token", "--subject", "ops-1", "--role", "ops").stdout.strip()
    request = urllib.request.Request(f"{api}/v1/sessions/{session_id}/recording")
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # a loopback test server
            return answer.status, ""
    except urllib.error.HTTPError as error:
        return error.code, str(json.loads(error.read())["code"])


class TestSplitRoles:
    """One control plane, one regional unit."""

    def test_grant_needs_a_live_unit_then_ssh_goes_through_it(self, cluster: Cluster) -> None:
        """A real ssh shell via the unit; the API reads no recording; the shell outlives the API."""
        api = cluster.start("api", "api")
        unit = cluster.start("eu-a", "region", "--region", EU, **UNIT)
        assert api["gateways"] == {}
        assert healthz(unit["viewers"][EU]) == (200, {"region": EU, "ok": True, "reasons": []})
        session_id, argv = cluster.open_session()
        assert f"-p {unit['gateways'][EU].split(':')[1]}" in " ".join(argv)
        shell = Shell.open(argv, cluster.env())
        try:
            held = cluster.query(
                "SELECT unit_id FROM session_units WHERE session_id = ?", session_id
            )
            assert held == [("eu-a",)]
            assert recording_status(cluster, api["api"], session_id) == (409, "region_not_served")
            minted = cluster.cli("token", "--subject", "eng-de-1", "--role", "engineer")
            cluster.stop("api")
            assert shell.say("echo still-$((6*7))", b"still-42"), shell.seen
            env = {"BROKER_API": api["api"], "BROKER_TOKEN": minted.stdout.strip()}
            again = cluster.cli("session", "open", "--ticket", "T-1001", "--target", "app-1", **env)
            assert again.returncode == 2
            assert "cannot reach the broker API (control plane)" in again.stderr
            assert "Traceback" not in again.stderr
        finally:
            shell.close()

    def test_a_unit_started_first_waits_for_the_control_plane(self, cluster: Cluster) -> None:
        """Up before ``broker api`` imported the demo orgs, a unit waits for them (its
        demo target needs them), then registers and serves: the roles start in any order."""
        cluster.start("eu-a", "region", "--region", EU, wait=False, **UNIT)
        waiting = lambda: "runtime.waiting_for_demo_orgs" in cluster.log("eu-a")  # noqa: E731
        assert poll_until(waiting, START_SECONDS), cluster.log("eu-a")
        cluster.start("api", "api")
        assert poll_until(cluster.endpoints_path("region", "eu-a").exists, START_SECONDS)
        session_id, argv = cluster.open_session()
        shell = Shell.open(argv, cluster.env())
        shell.close()
        assert cluster.session_state(session_id)[0] in ("connected", "closed")

    def test_grant_without_a_live_unit_is_refused(self, cluster: Cluster) -> None:
        """The region's only unit stopped: a grant there answers 503 ``region_unavailable``."""
        cluster.start("api", "api")
        cluster.start("eu-a", "region", "--region", EU, **UNIT)
        cluster.open_session()
        cluster.stop("eu-a")
        argv = ("session", "open", "--ticket", "T-1001", "--target", "app-1", "--as", "eng-de-1")
        assert poll_until(lambda: cluster.cli(*argv).returncode == 2, 10)
        assert cluster.cli(*argv).stderr == (f"broker: error: no live, healthy unit serves {EU}\n")

    def test_second_process_with_a_live_replica_id_is_refused(self, cluster: Cluster) -> None:
        """A replica id that still heartbeats is not taken over: the newcomer exits 2."""
        cluster.start("api", "api")
        cluster.start("eu-a", "region", "--region", EU, **UNIT)
        done = cluster.cli("region", "--region", EU, "--config", str(cluster.root / "eu-a.json"))
        assert done.returncode == 2
        assert f"replica_id: eu-a is already running in {EU}" in done.stderr

    def test_unit_refuses_storage_tagged_for_another_region(self, cluster: Cluster) -> None:
        """A region folder tagged for another region: exit 2, one line naming ``state_dir``."""
        folder = cluster.state / "regions" / EU
        folder.mkdir(parents=True)
        (folder / "region.tag").write_text("us-east-1\n")
        done = cluster.cli("region", "--region", EU, "--config", "/dev/null")
        assert done.returncode == 2
        assert done.stderr.strip().splitlines()[-1] == (
            f"broker: error: state_dir: regions/{EU}/region.tag names us-east-1: not {EU}'s storage"
        )

    def test_unit_refuses_a_region_outside_its_config(self, cluster: Cluster) -> None:
        """``--region`` names a region the config does not serve: exit 2 naming ``region``."""
        config = cluster.root / "one.json"
        config.write_text(json.dumps({"regions": ["us-east-1"]}))
        done = cluster.cli("region", "--region", EU, "--config", str(config))
        assert done.returncode == 2
        assert f"region: {EU} is not in the config's regions" in done.stderr


class TestReplicas:
    """Two replicas of one region behind one control plane."""

    @pytest.fixture
    def replicas(self, cluster: Cluster) -> tuple[dict[str, object], dict[str, object]]:
        """API, replica ``eu-a`` (with the demo target) and replica ``eu-b``."""
        cluster.start("api", "api")
        first = cluster.start("eu-a", "region", "--region", EU, **UNIT)
        second = cluster.start("eu-b", "region", "--region", EU, **{**UNIT, "replica_id": "eu-b",
                               "demo_targets": False})  # fmt: skip
        return first, second

    def test_same_region_host_key_on_both(
        self, replicas: tuple[dict[str, object], dict[str, object]], cluster: Cluster
    ) -> None:
        """Both replicas show the region's host key: a session opens at either."""
        _, second = replicas
        session_id, shell = shell_at(cluster, second)
        shell.close()
        held = cluster.query("SELECT unit_id FROM session_units WHERE session_id = ?", session_id)
        assert held == [("eu-b",)]

    def test_revocation_cuts_the_session_at_the_replica_holding_it(
        self, replicas: tuple[dict[str, object], dict[str, object]], cluster: Cluster
    ) -> None:
        """A revocation through the API reaches replica ``eu-b``'s live session and cuts it."""
        _, second = replicas
        session_id, shell = shell_at(cluster, second)
        try:
            done = cluster.cli("session", "revoke", session_id, "--as", "eng-de-1")
            assert done.returncode == 0, done.stderr
            assert shell.ended(), shell.seen
            assert cluster.session_state(session_id)[0] == "revoked"
        finally:
            shell.close()

    def test_killed_replica_is_taken_over(
        self, replicas: tuple[dict[str, object], dict[str, object]], cluster: Cluster
    ) -> None:
        """kill -9 of ``eu-b`` mid-session: closed ``broker_killed``, recording incomplete,
        ``eu-a`` keeps serving."""
        first, second = replicas
        session_id, shell = shell_at(cluster, second)
        try:
            cluster.stop("eu-b", 9)
            assert poll_until(lambda: cluster.session_state(session_id)[0] == "closed", 20)
            assert cluster.session_state(session_id) == ("closed", "broker_killed")
            path = recording_path(cluster.state, EU, session_id)
            assert read_info(path, Region(EU)).final == "incomplete"
        finally:
            shell.close()
        _, argv = cluster.open_session()
        shell = Shell.open(argv, cluster.env())  # the API now sends it to eu-a
        shell.close()
        assert f"-p {str(first['gateways'][EU]).split(':')[1]}" in " ".join(argv)  # type: ignore[index]

    def test_audit_verifies_after_a_kill(
        self, replicas: tuple[dict[str, object], dict[str, object]], cluster: Cluster
    ) -> None:
        """After a replica's kill -9 and its takeover, every chain of the region verifies."""
        _, argv = cluster.open_session()
        Shell.open(argv, cluster.env()).close()
        cluster.stop("eu-b", 9)
        cluster.stop_all()
        done = cluster.cli("audit", "verify", "--region", EU)
        assert done.returncode == 0, done.stdout + done.stderr
