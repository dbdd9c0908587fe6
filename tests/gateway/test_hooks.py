"""Default filter and recorder."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from broker.gateway.hooks import IdentityFilter, NullRecorder


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
