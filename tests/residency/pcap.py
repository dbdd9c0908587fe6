"""A tiny pcap reader that reassembles TCP payload per flow and direction.

Enough for the residency proof, nothing more: classic pcap files (as
``tcpdump -w`` writes them, micro- or nanosecond stamps, either byte order),
Ethernet or Linux cooked frames, IPv4, TCP. Each direction of a connection is
one ``Flow``; its payload is laid out by sequence number, so a canary split
across segments (or sent twice by a retransmission) is found once, whole.
Segments the capture missed leave zero bytes, which no printable canary
matches.
"""

from __future__ import annotations

import ipaddress
import struct
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_MAGICS = {
    b"\xd4\xc3\xb2\xa1": "<",
    b"\xa1\xb2\xc3\xd4": ">",
    b"\x4d\x3c\xb2\xa1": "<",
    b"\xa1\xb2\x3c\x4d": ">",
}
ETHERNET = 1
LINUX_SLL = 113
_IPV4 = 0x0800
_VLAN = 0x8100
_TCP = 6
_SYN = 0x02
_WRAP = 1 << 32


@dataclass(frozen=True, slots=True)
class Flow:
    """One direction of one TCP connection."""

    src: str
    sport: int
    dst: str
    dport: int

    def __str__(self) -> str:
        return f"{self.src}:{self.sport} -> {self.dst}:{self.dport}"


@dataclass(frozen=True, slots=True)
class Segment:
    """One TCP segment's flow, sequence number, SYN flag and payload."""

    flow: Flow
    seq: int
    syn: bool
    payload: bytes


def frames(path: Path) -> Iterator[tuple[int, bytes]]:
    """Every captured frame of the file as (link type, bytes)."""
    data = path.read_bytes()
    if len(data) < 24:
        return
    order = _MAGICS.get(data[:4])
    if order is None:
        raise ValueError(f"{path.name}: not a classic pcap file")
    linktype = struct.unpack(order + "I", data[20:24])[0]
    offset = 24
    while offset + 16 <= len(data):
        captured = struct.unpack(order + "I", data[offset + 8 : offset + 12])[0]
        yield linktype, data[offset + 16 : offset + 16 + captured]
        offset += 16 + captured


def _ip_packet(linktype: int, frame: bytes) -> bytes | None:
    """The IPv4 packet inside a frame, or None (ARP, other link types)."""
    if linktype == ETHERNET:
        kind, at = struct.unpack("!H", frame[12:14])[0], 14
        if kind == _VLAN:
            kind, at = struct.unpack("!H", frame[16:18])[0], 18
    elif linktype == LINUX_SLL:
        kind, at = struct.unpack("!H", frame[14:16])[0], 16
    else:
        return None
    return frame[at:] if kind == _IPV4 else None


def segments(path: Path) -> Iterator[Segment]:
    """Every TCP segment in the capture, in capture order."""
    for linktype, frame in frames(path):
        packet = _ip_packet(linktype, frame)
        if packet is None or len(packet) < 20 or packet[9] != _TCP:
            continue
        header = (packet[0] & 0x0F) * 4
        total = struct.unpack("!H", packet[2:4])[0] or len(packet)
        tcp = packet[header:total]
        if len(tcp) < 20:
            continue
        sport, dport, seq = struct.unpack("!HHI", tcp[:8])
        data_at = (tcp[12] >> 4) * 4
        src = str(ipaddress.IPv4Address(packet[12:16]))
        dst = str(ipaddress.IPv4Address(packet[16:20]))
        yield Segment(Flow(src, sport, dst, dport), seq, bool(tcp[13] & _SYN), tcp[data_at:])


def _layout(pieces: list[Segment]) -> bytes:
    """One direction's payload, each segment at its offset from the first data byte."""
    syns = [s.seq for s in pieces if s.syn]
    start = (syns[0] + 1) % _WRAP if syns else min(s.seq for s in pieces if s.payload)
    stream = bytearray()
    for piece in pieces:
        offset = (piece.seq - start) % _WRAP
        if not piece.payload or offset >= _WRAP // 2:  # empty, or before the start
            continue
        end = offset + len(piece.payload)
        if end > len(stream):
            stream.extend(bytes(end - len(stream)))
        stream[offset:end] = piece.payload
    return bytes(stream)


def streams(path: Path) -> dict[Flow, bytes]:
    """Each flow's reassembled payload (flows that carried no payload are left out)."""
    by_flow: dict[Flow, list[Segment]] = defaultdict(list)
    for segment in segments(path):
        by_flow[segment.flow].append(segment)
    return {
        flow: _layout(pieces)
        for flow, pieces in by_flow.items()
        if any(piece.payload for piece in pieces)
    }


def flows_holding(path: Path, needle: bytes) -> list[Flow]:
    """The flows whose reassembled payload contains ``needle``."""
    return [flow for flow, data in streams(path).items() if needle in data]
