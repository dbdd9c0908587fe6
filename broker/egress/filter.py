"""The terminal output egress filter: strips clipboard and file-transfer sequences.

``OutputFilter`` is a pure, stateful filter over the target->engineer byte
stream (no I/O). ``feed(data)`` returns the bytes to pass on and a ``Blocked``
record for each removed run; ``flush()`` ends the stream. What it removes and
what it lets through is listed in ``broker.egress.rules``.

How it stays correct across reads: every decision looks at a bounded window
of bytes. When a read ends before a decision can be made (a lone ESC, ``**``,
a half OSC number, a cut UTF-8 character ...), the undecided tail is held back,
at most ``MAX_HELD`` bytes, and decided with the next read. Once a string is
known to be blocked its bytes are dropped as they arrive, never held. So what
passes and what is removed do not depend on how the stream was split (only the
grouping of adjacent cuts of one kind into ``Blocked`` records may).

What a cut joins: removing bytes brings their neighbours together, so the
filter never passes a lone ESC (ESC + (cut) + ``]52;`` would be an OSC 52), and
after a cut it checks whether the bytes already sent and those that follow
would complete a ZMODEM or trzsz trigger (``:`` + (cut) + ``:TRZSZ:...``).

Raw 8-bit C1 introducers (0x9d ...) count only where they are not part of a
valid UTF-8 character: inside valid UTF-8 they are continuation bytes of CJK
or emoji text, and a UTF-8 terminal never reads them as controls.

How it stays fast: ``bytes.find`` skips plain text to the next trigger byte;
a compiled pattern (``SAFE``) skips runs of text, whole CSI sequences and
allowlisted heads in C; Python runs only at the few trigger bytes (ESC, CAN,
``\\xc2``, ``**``, ``::``) and at raw C1 bytes. Worst case is a flood of tiny
blocked strings (``\\x9d\\x07`` repeated): each costs some microseconds of
Python, so a caller on an event loop should feed bounded reads.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable

from broker.egress import rules
from broker.egress.blocked import Blocked, Kind
from broker.egress.rules import MAX_HELD, MAX_STRING

__all__ = ["MAX_HELD", "MAX_STRING", "OutputFilter"]

Step = Callable[[bytes, int, bool], int | None]
"""A handler: (buffer, position, end of stream?) -> next position, or None to
hold ``buffer[position:]`` until more bytes arrive."""

_SMALL_WINDOW, _BIG_WINDOW = 64, 1 << 16
_STRING_INTROS = frozenset(rules.C1_STRING.values())


class OutputFilter:
    """Stateful egress filter for one terminal output stream (one per session)."""

    def __init__(self) -> None:
        self._held = b""
        self._base = 0  # stream offset of the current buffer's first byte
        self._run: Kind | None = None  # kind of the string being dropped, if any
        self._run_dcs = False
        self._run_start = 0
        self._out: list[bytes] = []
        self._events: list[Blocked] = []
        self._vend = 0  # buffer index up to which UTF-8 was checked
        self._stray = -1  # the first raw C1 introducer before _vend, if any
        self._window = _SMALL_WINDOW
        self._tail = b""  # the last JOIN_TAIL bytes passed before this buffer
        self._junction = False  # a cut just happened: check what it joins
        self._found: list[int] = []  # next position of each FIND_TRIGGERS needle
        self._handlers: dict[int, Step] = {
            rules.ESC: self._esc,
            rules.CAN: self._zmodem,
            ord("*"): self._zmodem,
            ord(":"): self._colon,
            0xC2: self._c2,
        }

    @property
    def pending(self) -> int:
        """Bytes held back undecided (never more than ``MAX_HELD``)."""
        return len(self._held)

    def feed(self, data: bytes) -> tuple[bytes, list[Blocked]]:
        """Filter the next read; return the bytes to pass on and what was removed."""
        buf = self._held + data if self._held else bytes(data)
        return self._process(buf, final=False)

    def flush(self) -> tuple[bytes, list[Blocked]]:
        """End of stream: decide the held bytes and close an unterminated string."""
        out, events = self._process(self._held, final=True)
        if self._run is not None:
            self._close(0)  # appends to ``events``
        return out, events

    # -- the loop ------------------------------------------------------------
    def _process(self, buf: bytes, final: bool) -> tuple[bytes, list[Blocked]]:
        """Run handlers over ``buf`` until it is used up or a decision must wait."""
        self._out, self._events = [], []
        self._vend, self._stray = 0, -1
        self._found = [-1] * len(rules.FIND_TRIGGERS)
        pos, size = 0, len(buf)
        while pos < size:
            step = self._ground if self._run is None else self._discard
            nxt = step(buf, pos, final)
            if nxt is None:
                break
            pos = nxt
        self._held = buf[pos:]
        self._base += pos
        out = b"".join(self._out)
        self._tail = (self._tail + out[-rules.JOIN_TAIL :])[-rules.JOIN_TAIL :]
        if len(self._held) > MAX_HELD:
            raise AssertionError("egress filter held more than MAX_HELD bytes")
        return out, self._events

    def _ground(self, buf: bytes, pos: int, final: bool) -> int | None:
        """Outside any string: pass safe runs, dispatch trigger bytes."""
        if self._junction:
            nxt = self._join(buf, pos, final)
            if nxt != pos:
                return nxt
        if pos >= self._vend or 0 <= self._stray < pos:
            self._validate(buf, pos, final)
        limit = self._stray if self._stray >= 0 else self._vend  # stop at a raw C1
        if limit == pos:
            if self._stray != pos:
                return None  # a UTF-8 character cut by the end of the read
            self._restart_utf8()
            return self._string(buf, pos, 1, rules.C1_STRING[buf[pos]], True, final)
        if buf[pos] not in rules.TRIGGER_BYTES:
            return self._pass(buf, pos, self._next_trigger(buf, pos, limit))
        end = rules.SAFE.match(buf, pos, limit).end()  # type: ignore[union-attr]
        if end > pos:
            return self._pass(buf, pos, end)
        return self._handlers[buf[pos]](buf, pos, final)

    def _join(self, buf: bytes, pos: int, final: bool) -> int | None:
        """After a cut: cut the rest of a trigger the cut would otherwise complete."""
        tail = self._sent_tail()
        if rules.JOIN_OPEN.search(tail) is None:
            self._junction = False
            return pos
        found = rules.join_cut(tail, buf[pos : pos + rules.TZ_MAX], final)
        if found is None:
            return None
        self._junction = False
        kind, size = found
        return pos if kind is None else self._cut(kind, pos, pos + size)

    def _sent_tail(self) -> bytes:
        """The last ``JOIN_TAIL`` bytes passed on so far."""
        parts, size = [], 0
        for piece in reversed(self._out):
            parts.append(piece)
            size += len(piece)
            if size >= rules.JOIN_TAIL:
                break
        else:
            parts.append(self._tail)
        return b"".join(reversed(parts))[-rules.JOIN_TAIL :]

    def _next_trigger(self, buf: bytes, pos: int, limit: int) -> int:
        """Where plain text from ``pos`` (not a trigger byte) may stop, at most ``limit``."""
        best = limit
        found = self._found
        for i, needle in enumerate(rules.FIND_TRIGGERS):
            at = found[i]
            if at < pos:  # each trigger is searched for once per occurrence
                at = buf.find(needle, pos)
                found[i] = at = len(buf) if at < 0 else at
            best = min(best, at)
        if best == limit and (tail := rules.TAIL_OPEN.search(buf, max(pos, limit - 17), limit)):
            return tail.start()  # may grow into a needle: the handlers decide it
        return best

    def _validate(self, buf: bytes, pos: int, final: bool) -> None:
        """Check the next window of UTF-8 from ``pos``; note raw C1 introducers in it.

        A C1 byte counts as a control only outside a valid character (as a
        UTF-8 terminal decodes); only the first one is located, as it starts a
        string and so a cut. Windows start small after every cut, since
        what follows a cut is decoded afresh, and grow while nothing is cut.
        """
        end = min(len(buf), pos + self._window)
        view = memoryview(buf)[pos:end]
        last = final and end == len(buf)
        try:
            _, used = codecs.utf_8_decode(view, "strict", last)
            self._stray = -1
        except UnicodeDecodeError:
            text, used = codecs.utf_8_decode(view, "surrogateescape", last)
            self._stray = rules.first_stray(text, pos)
        self._vend = pos + used
        self._window = min(self._window * 2, _BIG_WINDOW)

    def _restart_utf8(self) -> None:
        """After a cut the terminal sees new neighbours: decode afresh from here."""
        self._vend, self._stray, self._window = 0, -1, _SMALL_WINDOW

    # -- output helpers ---------------------------------------------------------
    def _pass(self, buf: bytes, pos: int, end: int) -> int:
        """Let ``buf[pos:end]`` through."""
        self._out.append(buf[pos:end])
        return end

    def _cut(self, kind: Kind, pos: int, end: int) -> int:
        """Remove ``buf[pos:end]`` as one run of ``kind`` (joined to a run just before)."""
        start, events = self._base + pos, self._events
        if events and events[-1].kind == kind and events[-1].offset + events[-1].length == start:
            start = events.pop().offset
        events.append(Blocked(kind, start, self._base + end - start))
        self._junction = True
        self._restart_utf8()
        return end

    def _begin(self, kind: Kind, dcs: bool, pos: int, body: int) -> int:
        """Start dropping a string whose introducer is at ``pos``."""
        self._run, self._run_dcs, self._run_start = kind, dcs, self._base + pos
        return body

    def _close(self, end: int) -> int:
        """The dropped string ends before buffer index ``end``."""
        assert self._run is not None
        self._events.append(Blocked(self._run, self._run_start, self._base + end - self._run_start))
        self._run = None
        self._junction = True
        self._restart_utf8()
        return end

    def _split(self, at: int) -> int:
        """A dropped string reached ``MAX_STRING``: report it, drop on as ``oversize``."""
        self._close(at)
        return self._begin(Kind.OVERSIZE, self._run_dcs, at, at)

    # -- inside a blocked string ---------------------------------------------
    def _discard(self, buf: bytes, pos: int, final: bool) -> int | None:
        """Drop bytes up to the string's terminator (BEL, ST, CAN, SUB)."""
        limit = self._run_start + MAX_STRING - self._base
        if pos >= limit:
            return self._split(pos)
        stop = min(len(buf), limit)
        found = (rules.STR_END if self._run_dcs else rules.OSC_END).search(buf, pos, stop)
        if found is None:
            return self._split(limit) if stop == limit else stop
        k = found.start()
        if buf[k] != rules.ESC:
            return self._close(k + 1)
        if k + 1 >= len(buf):
            return self._close(k + 1) if final else (k if k > pos else None)
        if buf[k + 1] == ord("\\"):
            return self._close(k + 2)
        # In a DCS, ESC ESC is tmux's doubled ESC; dropping more is never a leak.
        # An OSC ends at any ESC, which then starts something we must read.
        return k + 2 if self._run_dcs else self._close(k)

    # -- trigger handlers ----------------------------------------------------
    def _esc(self, buf: bytes, pos: int, final: bool) -> int | None:
        """ESC: a CSI, a string introducer, ST, DECSC (maybe trzsz), or a short escape."""
        if pos + 1 >= len(buf):
            return self._cut(Kind.MALFORMED, pos, pos + 1) if final else None
        nxt = buf[pos + 1]
        if nxt == ord("["):
            return self._csi(buf, pos, final)
        if nxt in _STRING_INTROS:
            return self._string(buf, pos, 2, nxt, False, final)
        if nxt == ord("7"):
            return self._trzsz(buf, pos, rules.TZ_HEADS[1:], 2, final)
        return self._esc_short(buf, pos, nxt)

    def _esc_short(self, buf: bytes, pos: int, nxt: int) -> int:
        """ESC followed by ``nxt``, neither CSI nor a string nor DECSC."""
        if nxt < 0x20 or nxt >= rules.DEL:
            # A lone ESC is dropped: a terminal executes a C0 and stays in the
            # escape (ESC BEL ] is an OSC), and a lone ESC passed on could join
            # with what follows a later cut (ESC + (cut) + ``]52;``).
            if nxt == rules.ESC:  # a flood of ESCs is one cut; the last one is read next
                return self._cut(Kind.MALFORMED, pos, rules.ESC_RUN.match(buf, pos).end() - 1)  # type: ignore[union-attr]
            return self._cut(Kind.MALFORMED, pos, pos + 1)
        if 0x20 <= nxt <= 0x2F:
            return self._pass(buf, pos, rules.INTERMEDIATES.match(buf, pos + 1).end())  # type: ignore[union-attr]
        return self._pass(buf, pos, pos + 2)

    def _csi(self, buf: bytes, pos: int, final: bool) -> int | None:
        """A CSI the fast path did not take: unfinished, too long or malformed."""
        whole = rules.CSI.match(buf, pos)
        if whole is not None:
            return self._pass(buf, pos, whole.end())
        end = rules.CSI_PART.match(buf, pos).end()  # type: ignore[union-attr]
        if end >= len(buf) and not final:
            return None
        # A malformed CSI is harmless: the byte that broke it is read afresh.
        return self._pass(buf, pos, end)

    def _c2(self, buf: bytes, pos: int, final: bool) -> int | None:
        """``c2``: a UTF-8-encoded C1 string introducer (``c2 9d`` is OSC), or text."""
        intro = rules.C1_STRING.get(buf[pos + 1]) if pos + 1 < len(buf) else None
        if intro is None:
            return self._pass(buf, pos, pos + 1)
        return self._string(buf, pos, 2, intro, True, final)

    def _string(
        self, buf: bytes, pos: int, ilen: int, intro: int, c1: bool, final: bool
    ) -> int | None:
        """An OSC, DCS, SOS, PM or APC introducer of ``ilen`` bytes at ``pos``."""
        if intro == ord("]"):
            return self._osc(buf, pos, ilen, c1, final)
        if intro == ord("P"):
            return self._dcs(buf, pos, ilen, final)
        return self._begin(rules.STRING_KINDS[intro], True, pos, pos + ilen)

    def _osc(self, buf: bytes, pos: int, ilen: int, c1: bool, final: bool) -> int | None:
        """Pass an allowlisted OSC's head (its body is read as ordinary output)."""
        body = pos + ilen
        dend = rules.DIGITS.match(buf, body).end()  # type: ignore[union-attr]
        sep = rules.osc_separator(buf, dend, final)
        if sep is None:
            return None
        if dend == body or not sep:
            return self._begin(Kind.OSC_OTHER, False, pos, body)
        number = int(buf[body:dend])
        if number in rules.ALLOWED_OSC:
            return self._pass(buf, pos, dend + 1 if sep == 1 else dend)
        kind: Kind | None = rules.osc_kind(number, c1)
        if number == 1337 and sep == 1:
            key = buf[dend + 1 : dend + 17]
            kind = rules.prefix_kind(rules.ITERM2_KEYS, key, Kind.ITERM2_OTHER, final)
        return None if kind is None else self._begin(kind, False, pos, body)

    def _dcs(self, buf: bytes, pos: int, ilen: int, final: bool) -> int | None:
        """Every DCS is dropped; its first bytes only name the family."""
        body = pos + ilen
        head = buf[body : body + 10]
        kind: Kind | None
        if head[:1] == b"\x1b":  # GNU screen wraps the raw sequence as is
            if len(head) < 2 and not final:
                return None
            kind = Kind.DCS_PASSTHROUGH if head[1:2] not in (b"\\", b"") else Kind.DCS_OTHER
        else:
            kind = rules.prefix_kind(rules.DCS_KEYS, head, Kind.DCS_OTHER, final)
        return None if kind is None else self._begin(kind, True, pos, body)

    def _zmodem(self, buf: bytes, pos: int, final: bool) -> int | None:
        """``*`` or CAN: a ZMODEM hex header (``**`` CAN ``B0`` or visible ``**B0``)?"""
        if buf[pos] == ord("*") and (run := rules.RUNS.match(buf, pos).end() - 2) > pos:  # type: ignore[union-attr]
            return self._pass(buf, pos, run)  # only the last two of ``***...`` can start ``**``
        if rules.ZM_HEAD.match(buf, pos) is None:
            if not final and len(buf) - pos < 5 and rules.ZM_PREFIX.fullmatch(buf, pos):
                return None
            return self._pass(buf, pos, pos + 1)
        return self._cut_bounded(Kind.ZMODEM, rules.ZM_FULL, rules.ZM_MAX, buf, pos, final)

    def _colon(self, buf: bytes, pos: int, final: bool) -> int | None:
        """``::`` may start a trzsz transfer announcement."""
        if (run := rules.RUNS.match(buf, pos).end() - 2) > pos:  # type: ignore[union-attr]
            return self._pass(buf, pos, run)
        return self._trzsz(buf, pos, rules.TZ_HEADS[:1], 1, final)

    def _trzsz(
        self, buf: bytes, pos: int, heads: tuple[bytes, ...], plain: int, final: bool
    ) -> int | None:
        """``[ESC 7 [BEL]] ::TRZSZ:TRANSFER:`` is cut; otherwise pass ``plain`` bytes."""
        hit = rules.starts_any(heads, buf[pos : pos + len(heads[-1])], final)
        if hit is None:
            return None
        if not hit:
            return self._pass(buf, pos, pos + plain)
        return self._cut_bounded(Kind.TRZSZ, rules.TZ_FULL, rules.TZ_MAX, buf, pos, final)

    def _cut_bounded(
        self, kind: Kind, pattern: re.Pattern[bytes], most: int, buf: bytes, pos: int, final: bool
    ) -> int | None:
        """Cut the longest match of a bounded ``pattern`` (waiting while it could grow)."""
        end = pattern.match(buf, pos).end()  # type: ignore[union-attr]
        if end >= len(buf) and not final and end - pos < most:
            return None
        return self._cut(kind, pos, end)
