"""The pcap reader: frames, TCP segments, and payload laid out by sequence number.

Files are written here byte by byte (as ``tcpdump -w`` would), so these tests
need no root and no capture.
"""

from __future__ import annotations

import ipaddress
import itertools
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.residency.pcap import ETHERNET, LINUX_SLL, Flow, flows_holding, segments, streams

A, B = "192.0.2.1", "192.0.2.2"
FLOW = Flow(A, 40000, B, 4566)


def tcp_frame(flow: Flow, seq: int, payload: bytes, *, syn: bool = False) -> bytes:
    """An Ethernet frame holding one IPv4 TCP segment of ``flow``."""
    tcp = struct.pack("!HHIIBBHHH", flow.sport, flow.dport, seq, 0, 5 << 4,
                      0x02 if syn else 0x18, 65535, 0, 0) + payload  # fmt: skip
    src, dst = (ipaddress.IPv4Address(a).packed for a in (flow.src, flow.dst))
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0, src, dst)
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + tcp


def write_pcap(path: Path, frames: list[bytes], linktype: int = ETHERNET, order: str = "<") -> Path:
    """A classic pcap file of ``frames`` (microsecond stamps, ``order`` byte order)."""
    out = [struct.pack(order + "IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)]
    for frame in frames:
        out.append(struct.pack(order + "IIII", 0, 0, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return path


class TestReassembly:
    """Each flow's payload comes back whole, whatever the segmentation."""

    def test_canary_split_across_segments_is_found(self, tmp_path: Path) -> None:
        """No segment holds the canary, the reassembled stream does."""
        frames = [tcp_frame(FLOW, 999, b"", syn=True), tcp_frame(FLOW, 1000, b"xxCANA"),
                  tcp_frame(FLOW, 1006, b"RY-42yy")]  # fmt: skip
        path = write_pcap(tmp_path / "split.pcap", frames)
        assert not any(b"CANARY-42" in s.payload for s in segments(path))
        assert flows_holding(path, b"CANARY-42") == [FLOW]

    def test_out_of_order_retransmitted_and_wrapping(self, tmp_path: Path) -> None:
        """Segments late, twice, and across the 32-bit sequence wrap land in place."""
        start = (1 << 32) - 3
        frames = [tcp_frame(FLOW, start - 1, b"", syn=True), tcp_frame(FLOW, 0, b"defgh"),
                  tcp_frame(FLOW, start, b"abc"), tcp_frame(FLOW, 0, b"defgh")]  # fmt: skip
        path = write_pcap(tmp_path / "wrap.pcap", frames, order=">")
        assert streams(path) == {FLOW: b"abcdefgh"}

    def test_directions_are_separate_flows(self, tmp_path: Path) -> None:
        """A reply is its own flow: a canary split between the two directions is not found."""
        back = Flow(B, 4566, A, 40000)
        frames = [tcp_frame(FLOW, 1, b"CANA"), tcp_frame(back, 7, b"RY")]
        path = write_pcap(tmp_path / "two.pcap", frames)
        assert streams(path) == {FLOW: b"CANA", back: b"RY"}
        assert flows_holding(path, b"CANARY") == []

    def test_linux_cooked_frames(self, tmp_path: Path) -> None:
        """``tcpdump -i any`` writes Linux cooked frames: their IPv4 is read as well."""
        frame = tcp_frame(FLOW, 1, b"payload")
        cooked = b"\x00\x00\x00\x01\x00\x06" + b"\x02" * 8 + b"\x08\x00" + frame[14:]
        path = write_pcap(tmp_path / "sll.pcap", [cooked], linktype=LINUX_SLL)
        assert streams(path) == {FLOW: b"payload"}

    def test_not_a_pcap_file(self, tmp_path: Path) -> None:
        """A file that is no pcap is an error, never an empty (clean-looking) capture."""
        path = tmp_path / "junk.pcap"
        path.write_bytes(b"\x00" * 64)
        with pytest.raises(ValueError, match="not a classic pcap"):
            streams(path)

    @settings(max_examples=50, deadline=None)
    @given(
        payload=st.binary(min_size=1, max_size=300),
        cuts=st.lists(st.integers(min_value=1, max_value=299), max_size=8),
        isn=st.integers(min_value=0, max_value=(1 << 32) - 1),
        order=st.randoms(use_true_random=False),
    )
    def test_any_segmentation_reassembles(
        self, tmp_path_factory: pytest.TempPathFactory, payload: bytes, cuts: list[int],
        isn: int, order: object,
    ) -> None:  # fmt: skip
        """Any cut of a payload into segments, in any order, gives the payload back."""
        bounds = sorted({0, len(payload), *(c for c in cuts if c < len(payload))})
        pieces = [
            tcp_frame(FLOW, (isn + 1 + lo) % (1 << 32), payload[lo:hi])
            for lo, hi in itertools.pairwise(bounds)
        ]
        order.shuffle(pieces)  # type: ignore[attr-defined]
        frames = [tcp_frame(FLOW, isn, b"", syn=True), *pieces]
        path = write_pcap(tmp_path_factory.mktemp("prop") / "p.pcap", frames)
        assert streams(path) == {FLOW: payload}
