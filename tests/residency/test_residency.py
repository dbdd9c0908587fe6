"""Residency shown by where the bytes go: every role in a network namespace of its own.

One run (module scope): the lab of ``tests.residency.world`` with a capture
on every link from before the first process starts; the control plane
(``broker api``) and one unit per region (``broker region``), all in AWS
mode against their own moto servers. On an EU ticket and on a US ticket the
engineer opens a real OpenSSH session and a viewer session, each of which
prints its own random canary. Then every role stops (so its last uploads and
audit batches are on the wire too), the captures stop, and:

- each canary is in the capture of its own unit's link to its own region's
  storage (the recording upload, plain HTTP to moto): the positive control
  that shows the capture would see a leak;
- no canary is in any other link's reassembled TCP payload, in either
  direction: not the other region's, not the control plane's, not the link
  between the regions;
- the link between the EU and US units counts zero bytes both ways;
- every link of the control plane carried traffic (so "no canary there" is
  a finding about real traffic) and none of it terminal data.

The table of bytes per link is printed (``pytest -s``); docs/residency.md
holds a copy of one run's figures.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from broker.typing import Region
from tests.aws.conftest import EU, US
from tests.residency.conftest import needs_root
from tests.residency.netns import Counters, stop
from tests.residency.pcap import Flow, streams
from tests.residency.world import (
    CONTROL,
    STORAGE_ROLES,
    UNIT_ROLES,
    Engineer,
    World,
    canary,
    running,
    typed,
    uploaded,
)

pytestmark = needs_root

SCOPE = re.compile(rb"Credential=[^/\s]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")
"""A SigV4 credential scope in a request's Authorization header: its region and service."""
SESSIONS = {EU: ("T-1001", "T-1002", "eng-de-1"), US: ("T-2001", "T-2001", "eng-us-1")}
"""Per region: the ticket for the ssh session, the one for the viewer session, the engineer."""


@dataclass
class Outcome:
    """What one run produced: canaries, what the engineer saw, captures and counters."""

    world: World = field(repr=False)
    canaries: dict[tuple[Region, str], str] = field(default_factory=dict)
    """By (region, "ssh" or "view")."""
    ssh_out: dict[Region, str] = field(default_factory=dict)
    viewer: dict[Region, dict[str, Any]] = field(default_factory=dict)
    pcaps: dict[str, Path] = field(default_factory=dict)
    counters: dict[str, Counters] = field(default_factory=dict)
    payload: dict[str, dict[Flow, bytes]] = field(default_factory=dict, repr=False)
    """Each link's reassembled TCP payload, per flow and direction."""

    def scopes(self, label: str) -> set[tuple[str, str]]:
        """The (region, service) of every AWS request on the link, from its SigV4 scope."""
        flows = self.payload.get(label, {})
        return {
            (m[1].decode(), m[2].decode()) for data in flows.values() for m in SCOPE.finditer(data)
        }

    def holding(self, marker: str) -> dict[str, list[Flow]]:
        """The links (by label) whose capture holds ``marker``, with the flows."""
        needle = marker.encode()
        found = {
            label: [flow for flow, data in flows.items() if needle in data]
            for label, flows in self.payload.items()
        }
        return {label: flows for label, flows in found.items() if flows}


def sessions_in(world: World, region: Region, outcome: Outcome) -> None:
    """One ssh and one viewer session in ``region``, each printing its own canary."""
    engineer = Engineer(world)
    ssh_ticket, view_ticket, staff = SESSIONS[region]
    by_ssh, by_viewer = canary(region, "ssh"), canary(region, "view")
    outcome.canaries |= {(region, "ssh"): by_ssh, (region, "view"): by_viewer}
    done = engineer.ssh(engineer.open(ssh_ticket, staff), f"{typed(by_ssh)}\nexit 0\n")
    outcome.ssh_out[region] = done.stdout
    grant = engineer.open(view_ticket, staff, view=True)
    outcome.viewer[region] = engineer.view(grant, [typed(by_viewer), "exit"])


def table(outcome: Outcome) -> str:
    """The bytes per link as a Markdown table (``a -> b`` is what ``a`` sent)."""
    rows = [
        "| link (a <-> b) | bytes a -> b | bytes b -> a | packets | AWS calls (SigV4 scope) "
        "| canaries found |",
        "|---|---:|---:|---:|---|---|",
    ]
    for label, count in outcome.counters.items():
        hits = [
            f"{region} {kind}"
            for (region, kind), marker in outcome.canaries.items()
            if label in outcome.holding(marker)
        ]
        calls = ", ".join(
            f"{service} {region}" for region, service in sorted(outcome.scopes(label))
        )
        packets = count.rx_packets + count.tx_packets
        rows.append(
            f"| {label} | {count.tx_bytes} | {count.rx_bytes} | {packets} "
            f"| {calls or '-'} | {', '.join(hits) or 'none'} |"
        )
    return "\n".join(rows)


@pytest.fixture(scope="module")
def outcome() -> Iterator[Outcome]:
    """The whole run; the lab is gone (namespaces, processes) when the module ends."""
    with running(capture=True) as world:
        found = Outcome(world)
        for region in (EU, US):
            sessions_in(world, region, found)
            uploaded(world, region)
        for role in ("eu", "us", "cp"):
            stop(world.roles[role])
        found.counters = {each.label: world.lab.counters(each) for each in world.lab.links}
        found.pcaps = world.lab.stop_captures()
        found.payload = {label: streams(path) for label, path in found.pcaps.items()}
        yield found


class TestWhereTheBytesGo:
    """Canaries in captures and counters, per link."""

    def test_the_engineer_saw_each_canary(self, outcome: Outcome) -> None:
        """The sessions really ran: ssh printed its canary, the viewer drew until the end."""
        for region in (EU, US):
            assert outcome.canaries[region, "ssh"] in outcome.ssh_out[region]
            seen = outcome.viewer[region]
            assert seen["controls"][0] == "ready"
            assert seen["end"] is not None
            assert seen["frames"] > 0

    @pytest.mark.parametrize("region", [EU, US])
    def test_canaries_reach_their_region_storage_and_nothing_else(
        self, outcome: Outcome, region: Region
    ) -> None:
        """Each canary is on its unit's link to its storage (the upload) and on no other link."""
        own = f"{UNIT_ROLES[region]}<->{STORAGE_ROLES[region]}"
        for kind in ("ssh", "view"):
            found = outcome.holding(outcome.canaries[region, kind])
            assert set(found) == {own}, (kind, {k: [str(f) for f in v] for k, v in found.items()})

    def test_no_traffic_between_the_regions(self, outcome: Outcome) -> None:
        """The EU<->US link counted zero bytes both ways, and its capture is empty."""
        between = outcome.counters["eu<->us"]
        assert (between.rx_bytes, between.tx_bytes) == (0, 0)
        assert outcome.pcaps["eu<->us"].stat().st_size == 24  # the pcap header, no packet

    def test_control_plane_carries_no_terminal_data(self, outcome: Outcome) -> None:
        """Every cp link carried traffic, and not one canary byte sequence."""
        links = [label for label in outcome.counters if "cp" in label.split("<->")]
        assert len(links) == 5
        for label in links:
            assert outcome.counters[label].total_bytes > 0, label
            for marker in outcome.canaries.values():
                assert label not in outcome.holding(marker), (label, marker)

    def test_sessions_go_from_the_client_straight_to_their_unit(self, outcome: Outcome) -> None:
        """Each unit's link to the client carries an SSH connection and a viewer socket; the
        control plane's link to the client carries neither (only the API's answers)."""
        for region in (EU, US):
            own = outcome.payload[f"client<->{UNIT_ROLES[region]}"].values()
            assert any(data.startswith(b"SSH-2.0-") for data in own)
            assert any(b"GET /ws HTTP/1.1" in data for data in own)
        for data in outcome.payload["client<->cp"].values():
            assert b"SSH-2.0-" not in data
            assert b"GET /ws HTTP/1.1" not in data

    def test_each_link_calls_only_its_own_aws(self, outcome: Outcome) -> None:
        """Units call only their own region's services and the store; the control plane
        calls the store, and each region's keys and logs, never its recordings bucket."""
        store = {(CONTROL, "dynamodb")}
        for region in (EU, US):
            unit, storage = UNIT_ROLES[region], STORAGE_ROLES[region]
            assert {r for r, _ in outcome.scopes(f"{unit}<->{storage}")} == {region}
            assert (region, "s3") in outcome.scopes(f"{unit}<->{storage}")
            assert outcome.scopes(f"cp<->{unit}") <= store
            control = outcome.scopes(f"cp<->{storage}")
            assert control, "the control plane reads the region's CA key there"
            assert {s for _, s in control} <= {"secretsmanager", "logs", "kms"}
            assert {r for r, _ in control} == {region}
        assert outcome.scopes("eu<->us") == set()

    def test_bytes_per_link_table(self, outcome: Outcome) -> None:
        """The table names every link once; it is printed (``pytest -s``) for docs/residency.md."""
        text = table(outcome)
        print("\n" + text)
        assert text.count("\n") == len(outcome.counters) + 1
