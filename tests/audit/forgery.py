"""Forgeries of a region's audit chain by someone who can write its folder and read its key.

Each re-chains what it changes and re-seals ``HEAD`` exactly as the writer would.
"""

from __future__ import annotations

import json

from broker.audit.keys import FileSecretSource
from broker.audit.segments import Head, encode_record, list_segments, write_head
from broker.state import StateLayout
from broker.typing import Region
from tests.audit.conftest import REGION


def records_of(state) -> list[bytes]:
    """Every line of the region's chain, in order."""
    return [
        line
        for _, path in list_segments(StateLayout(state).audit_chain(REGION, "main"))
        for line in path.read_bytes().splitlines(keepends=True)
    ]


def _reseal(state) -> None:
    """Rewrite the chain into one segment and seal HEAD over its end with the folder's key."""
    directory = StateLayout(state).audit_chain(REGION, "main")
    lines = records_of(state)
    for _, path in list_segments(directory):
        path.unlink()
    (directory / "00000001.jsonl").write_bytes(b"".join(lines))
    last = json.loads(lines[-1])
    head = Head(REGION, 1, len(lines), sum(map(len, lines)), last["seq"], last["hash"])
    write_head(directory, head, FileSecretSource(state).secret(Region(REGION)), sync=False)


def forge_append(state, count: int = 1) -> None:
    """Append ``count`` correctly chained records after HEAD, and re-seal HEAD over them."""
    directory = StateLayout(state).audit_chain(REGION, "main")
    last = json.loads(records_of(state)[-1])
    with (directory / list_segments(directory)[-1][1].name).open("ab") as stream:
        for _ in range(count):
            record = {
                "seq": last["seq"] + 1, "time": last["time"], "region": REGION,
                "event": "consent.granted", "consent_id": "c-forged", "ticket_id": "T-1",
                "staff_id": "eng-us-1", "prev": last["hash"],
            }  # fmt: skip
            line, digest = encode_record(record)
            stream.write(line)
            last = {**record, "hash": digest}
    _reseal(state)


def forge_truncate(state, count: int) -> None:
    """Drop the last ``count`` records and re-seal HEAD over what is left."""
    directory = StateLayout(state).audit_chain(REGION, "main")
    lines = records_of(state)[:-count]
    for _, path in list_segments(directory):
        path.unlink()
    (directory / "00000001.jsonl").write_bytes(b"".join(lines))
    _reseal(state)


def forge_rewrite(state, seq: int) -> None:
    """Change record ``seq`` and re-chain every record after it; re-seal HEAD."""
    lines = records_of(state)
    kept, prev = lines[: seq - 1], json.loads(lines[seq - 2])["hash"]
    for raw in lines[seq - 1 :]:
        record = json.loads(raw)
        record.pop("hash")
        record["prev"] = prev
        if record["seq"] == seq:
            record["staff_country"] = "DE"
        line, prev = encode_record(record)
        kept.append(line)
    directory = StateLayout(state).audit_chain(REGION, "main")
    for _, path in list_segments(directory):
        path.unlink()
    (directory / "00000001.jsonl").write_bytes(b"".join(kept))
    _reseal(state)
