"""Default filter and recorder."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from broker.gateway.hooks import IdentityFilter, NullRecorder, Recorder


class TestDefaults:
    """Identity and no-op."""

    @given(st.binary())
    def test_identity(self, data: bytes) -> None:
        """Everything passes, nothing is blocked."""
        assert IdentityFilter().feed(data) == (data, ())
        assert IdentityFilter().flush() == (b"", ())

    def test_null_recorder_accepts_all(self) -> None:
        """Every method is callable and returns None."""
        rec = NullRecorder()
        assert rec.output(b"x") is None
        assert rec.input(b"x") is None
        assert rec.resize(1, 1) is None
        assert rec.marker("m") is None
        assert rec.start("xterm", 80, 24) is None
        assert rec.close("done") is None

    def test_null_recorder_answers_the_whole_protocol(self) -> None:
        """Kept nowhere, never failed, nothing written; ``on_failure`` is settable."""
        rec = NullRecorder()
        assert (rec.path, rec.failed, rec.bytes_written, rec.sha256) == (None, None, 0, "")
        assert rec.on_failure is None
        rec.on_failure = print
        assert NullRecorder().on_failure is None  # per instance, not shared

    def test_protocol_names_what_the_gateway_reads(self) -> None:
        """Every attribute link.py and relay.py use is declared on ``Recorder``."""
        declared = set(dir(Recorder)) | set(Recorder.__annotations__)
        used = {"path", "failed", "bytes_written", "sha256", "on_failure", "start", "close"}
        assert used <= declared
