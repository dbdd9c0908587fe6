"""The namespace lab itself: links carry only their two ends' traffic, and it all goes away."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from pathlib import Path

import pytest

from tests.residency.conftest import needs_root
from tests.residency.netns import DOCUMENTATION, Lab, wait_for
from tests.residency.pcap import flows_holding, segments

pytestmark = needs_root

SERVER = """
import socket, sys, time
s = socket.create_server((sys.argv[1], 7000))
print("ready", flush=True)
c, _ = s.accept()
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
c.sendall(b"head CANA")
time.sleep(0.2)
c.sendall(b"RY-7f3 tail")
c.close()
"""
CLIENT = """
import socket, sys
c = socket.create_connection((sys.argv[1], 7000), timeout=20)
got = b""
while chunk := c.recv(100):
    got += chunk
print(got.decode())
"""


def namespaces() -> set[str]:
    """The names ``ip netns list`` shows."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}


class TestLab:
    """Three namespaces in a triangle; one TCP exchange between two of them."""

    def test_link_traffic_is_captured_and_counted(self, tmp_path: Path) -> None:
        """The exchange shows on its link (canary split, reassembled), the others count zero."""
        with Lab(tmp_path) as lab:
            a, b, c = (lab.namespace(role) for role in ("a", "b", "c"))
            ab, ac, bc = lab.link(a, b), lab.link(a, c), lab.link(b, c)
            lab.capture_all()
            log = tmp_path / "server.log"
            lab.spawn(b, [sys.executable, "-c", SERVER, b.address], log=log)
            wait_for(lambda: "ready" in log.read_text(), "the server")
            done = lab.run(a, [sys.executable, "-c", CLIENT, b.address])
            assert done.stdout.strip() == "head CANARY-7f3 tail", done.stderr
            counts = {each.label: lab.counters(each) for each in (ab, ac, bc)}
            pcaps = lab.stop_captures()
        assert counts["a<->b"].rx_bytes > 0
        assert counts["a<->b"].tx_bytes > 0
        assert counts["a<->c"].total_bytes == 0
        assert counts["b<->c"].total_bytes == 0
        (flow,) = flows_holding(pcaps["a<->b"], b"CANARY-7f3")
        assert (flow.src, flow.sport, flow.dst) == (b.address, 7000, ab.a_address)
        assert not any(b"CANARY-7f3" in s.payload for s in segments(pcaps["a<->b"]))
        assert flows_holding(pcaps["b<->c"], b"CANARY") == []

    def test_addresses_are_documentation_only_and_torn_down(self, tmp_path: Path) -> None:
        """Every address is RFC 5737; after the block no namespace of the lab is left."""
        with Lab(tmp_path) as lab:
            a, b = lab.namespace("a"), lab.namespace("b")
            joined = lab.link(a, b)
            names = {a.name, b.name}
            assert names <= namespaces()
            lab.spawn(a, ["sleep", "300"], log=tmp_path / "sleep.log")
        for address in (a.address, b.address, joined.a_address, joined.b_address):
            assert any(ipaddress.ip_address(address) in net for net in DOCUMENTATION)
        assert not names & namespaces()
        assert all(p.poll() is not None for p in lab.processes)

    def test_torn_down_on_failure(self, tmp_path: Path) -> None:
        """An error inside the block still ends the lab's processes and deletes its namespaces."""
        lab = Lab(tmp_path)
        space = lab.namespace("a")
        sleeper = lab.spawn(space, ["sleep", "300"], log=tmp_path / "sleep.log")

        def fail() -> None:
            with lab:
                raise RuntimeError("mid-run")

        with pytest.raises(RuntimeError, match="mid-run"):
            fail()
        assert sleeper.poll() is not None
        assert space.name not in namespaces()
