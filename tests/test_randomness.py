"""Tests for the pooled kernel randomness behind ids, serials and certificate nonces."""

from __future__ import annotations

import os
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker import randomness
from broker.randomness import BLOCK_BYTES, random_bits, random_bytes
from tests.fixtures.threads import run_together


class TestRandomBytes:
    """``random_bytes``: each byte of the pool handed out once."""

    @given(st.integers(min_value=0, max_value=3 * BLOCK_BYTES))
    def test_gives_the_count_asked_for(self, count: int) -> None:
        """Small counts come from the pool, large ones straight from the kernel."""
        assert len(random_bytes(count)) == count

    def test_refuses_a_negative_count(self) -> None:
        """A negative count is a caller's bug, not an empty answer."""
        with pytest.raises(ValueError, match="negative"):
            random_bytes(-1)

    def test_draws_across_block_boundaries_never_repeat(self) -> None:
        """16-byte draws over many refills are all distinct (a repeat would mean reuse)."""
        draws = [random_bytes(16) for _ in range(5 * BLOCK_BYTES // 16 + 7)]
        assert len(set(draws)) == len(draws)

    def test_threads_drawing_at_once_get_distinct_bytes(self) -> None:
        """The lock keeps two threads from being handed the same slice."""
        draws: list[bytes] = []

        def draw() -> None:
            draws.extend(random_bytes(8) for _ in range(2_000))

        run_together(*[draw] * 4)
        assert len(draws) == 8_000
        assert len(set(draws)) == len(draws)

    def test_a_forked_child_never_repeats_its_parents_bytes(self) -> None:
        """After fork the child's pool is empty: its next bytes differ from the parent's."""
        random_bytes(1)  # make sure the parent holds a partly used block
        read_end, write_end = os.pipe()
        with warnings.catch_warnings():  # 3.12+ warns about fork with threads running
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through the pipe
            os.write(write_end, random_bytes(32))
            os._exit(0)
        os.close(write_end)
        parent = random_bytes(32)
        child = os.read(read_end, 64)
        os.close(read_end)
        os.waitpid(pid, 0)
        assert len(child) == 32
        assert child != parent

    def test_forget_drops_the_unused_block(self) -> None:
        """``forget`` (run in a fork's child) leaves nothing of the old block to hand out."""
        pool = randomness._Pool()
        first = pool.take(8)
        pool.forget()
        assert pool.take(8) != first
        assert len(pool.take(BLOCK_BYTES)) == BLOCK_BYTES


class TestRandomBits:
    """``random_bits``: an integer of at most the asked-for width."""

    @given(st.integers(min_value=1, max_value=130))
    def test_stays_below_two_to_the_bits(self, bits: int) -> None:
        """Never wider than asked, whatever the width's remainder modulo 8."""
        assert 0 <= random_bits(bits) < 2**bits

    def test_uses_the_top_bit(self) -> None:
        """Over many draws the top bit is set sometimes: the shift keeps the full width."""
        assert any(random_bits(63) >> 62 for _ in range(200))
