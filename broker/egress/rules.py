"""What the terminal output filter recognises: families, allowlist, byte patterns.

Data and tiny pure helpers only; the state machine lives in ``filter``.

OSC allowlist (everything else carrying an OSC introducer is removed):

- 0, 1, 2: window and icon titles;
- 4, 10, 11, 12 and the resets 104, 110, 111, 112: palette, foreground,
  background and cursor colours (a ``?`` query is answered into the *input*
  stream, towards the target, so it carries nothing out);
- 7: current directory (shell integration);
- 8: hyperlinks;
- 133 (FinalTerm / iTerm2 / WezTerm) and 633 (VS Code): prompt and command marks.

The OSC number is read as terminals read it, as an integer, so ``ESC ] 052;``
is OSC 52. A number longer than ``MAX_OSC_DIGITS`` or anything but digits before
``;`` makes the sequence ``osc-other``. Every DCS, SOS, PM and APC string is
removed, whatever it holds.

Limits, by design:

- Raw 8-bit C1 bytes (0x9d ...) count as controls only outside a valid UTF-8
  character, as a UTF-8 terminal reads them; a terminal in a legacy 8-bit mode
  would also act on C1 bytes inside UTF-8 text, and is not supported.
- The visible ZMODEM trigger (``**B0100``, ``**B00000000000000``) is cut as
  contiguous bytes. A terminal that triggers on *screen* text can be shown the
  same characters with other sequences or cursor moves between them; but the
  frames a transfer needs (ZDLE ``B`` hex headers, ZDLE ``A`` / ``C`` binary
  headers) are always cut, so no transfer can run.
"""

from __future__ import annotations

import re

from broker.egress.blocked import Kind

ALLOWED_OSC = frozenset({0, 1, 2, 4, 7, 8, 10, 11, 12, 104, 110, 111, 112, 133, 633})
"""OSC numbers that pass (see the module docstring)."""

MAX_OSC_DIGITS = 10
MAX_STRING = 64 * 1024
"""A removed string is reported in runs of at most this many bytes; the
remainder of a longer one is reported as ``oversize`` (still removed)."""

MAX_HELD = 128
"""Most bytes the filter ever holds back between reads (an undecided prefix; the
longest is a trzsz announcement, under ``TZ_MAX`` bytes)."""

ESC, BEL, CAN, SUB, DEL = 0x1B, 0x07, 0x18, 0x1A, 0x7F
C1_ST = 0x9C

C1_STRING = {0x9D: ord("]"), 0x90: ord("P"), 0x98: ord("X"), 0x9E: ord("^"), 0x9F: ord("_")}
"""8-bit C1 string introducers and their 7-bit ``ESC x`` equivalents."""

_CSI = rb"\x1b\[[0-?]{0,60}[ -/]{0,4}"
CSI = re.compile(_CSI + rb"[@-~]")
CSI_PART = re.compile(_CSI)

_OSC_OK = rb"\x1b\](?:0|1|2|4|7|8|10|11|12|104|110|111|112|133|633);"
_ESC2_OK = rb"\x1b[0-68-OQ-WYZ\\`-~]"
_TEXT = rb"(?>[^\x1b\x18\xc2*:]*)"
_SAFE_ONE = (
    _CSI + rb"[@-~]",
    _OSC_OK,
    _ESC2_OK,
    rb"\xc2[\x80-\x8f\x91-\x97\x99-\x9c\xa0-\xbf]",
    rb"\*(?=[^*])",
    rb":(?=[^:])",
)
SAFE = re.compile(_TEXT + rb"(?>(?:(?:" + b"|".join(_SAFE_ONE) + rb")" + _TEXT + rb")*)")
"""A run the filter may pass untouched (up to the next raw C1 introducer): text,
whole CSI sequences, allowlisted OSC heads, ST and other two-byte escapes (not
DECSC, which may start trzsz), UTF-8-encoded C1 characters other than string
introducers, and ``*`` / ``:`` that cannot start a ZMODEM or trzsz trigger.
Matching it is the fast path (it runs in C).

Atomic groups, not possessive quantifiers (``*+``): CPython before 3.11.5
matches ``(...)*+`` wrongly when the group holds a lookahead (gh-100061,
gh-106052), and Debian 12's python3 is 3.11.2. There ``**`` passed its first
``*`` as safe, which let a ZMODEM trigger through. Python's own fix makes
``x*+`` mean ``(?>x*)``, which is what is written here."""

FIND_TRIGGERS = (b"\x1b", b"\x18", b"\xc2", b"**\x18", b"**B0", b"::TRZSZ:TRANSFER:")
"""What the plain-text fast path looks for with ``bytes.find`` (C speed; longer
needles skip faster). It may stop early (at a CSI, a harmless ``c2``
character); ``SAFE`` and the handlers then go on."""
TRIGGER_BYTES = frozenset(b"\x1b\x18\xc2*:")
TZ_HEADS_0 = b"::TRZSZ:TRANSFER:"

_TZ_PREFIXES = b"|".join(re.escape(TZ_HEADS_0[:i]) for i in range(1, len(TZ_HEADS_0)))
TAIL_OPEN = re.compile(rb"(?:\*\*?B?|" + _TZ_PREFIXES + rb")\Z")
"""Text ending in what may grow into a ``FIND_TRIGGERS`` needle with the next read."""
RUNS = re.compile(rb"\*+|:+")
ESC_RUN = re.compile(rb"\x1b+")
_STRAY = re.compile("[\udc90\udc98\udc9d-\udc9f]")
DIGITS = re.compile(rb"[0-9]{0,%d}" % MAX_OSC_DIGITS)
INTERMEDIATES = re.compile(rb"[ -/]+")
OSC_END = re.compile(rb"[\x07\x18\x1a\x1b\x9c]")
STR_END = re.compile(rb"[\x18\x1a\x1b\x9c]")

ZM_HEAD = re.compile(rb"\*\*(?:\x18B[01]|B0[0-9a-fA-F])|\x18(?:B[01]|[AC])")
ZM_PREFIX = re.compile(rb"\*{1,2}(?:\x18B?|B0?)?|\x18B?")
ZM_FULL = re.compile(rb"(?:\*\*)?\x18?(?:B[0-9a-fA-F]{1,14}\r?[\n\x8a]?\x11?|[AC])")
ZM_MAX = 21
"""ZMODEM: a hex header (``**`` ZDLE ``B``, 14 hex digits, CR LF XON), visible or
not, and the start of a binary header (ZDLE ``A`` / ``C``)."""

TZ_HEADS = (TZ_HEADS_0, b"\x1b7" + TZ_HEADS_0, b"\x1b7\x07" + TZ_HEADS_0)
TZ_FULL = re.compile(rb"(?:\x1b7\x07?)?::TRZSZ:TRANSFER:[A-Z]?(?::[0-9A-Za-z.]{0,24}){0,3}\r?\n?")
TZ_MAX = 100

ITERM2_KEYS = {
    b"File=": Kind.ITERM2_FILE,
    b"MultipartFile=": Kind.ITERM2_FILE,
    b"FilePart=": Kind.ITERM2_FILE,
    b"FileEnd": Kind.ITERM2_FILE,
    b"Copy=": Kind.ITERM2_CLIPBOARD,
    b"CopyToClipboard": Kind.ITERM2_CLIPBOARD,
    b"EndCopy": Kind.ITERM2_CLIPBOARD,
}
DCS_KEYS = {b"tmux;": Kind.DCS_PASSTHROUGH, b"@kitty-cmd": Kind.KITTY_CMD}
OSC_KINDS = {
    52: Kind.OSC52,
    1337: Kind.ITERM2_OTHER,
    5113: Kind.KITTY_FILE,
    5522: Kind.KITTY_CLIPBOARD,
}
STRING_KINDS = {ord("X"): Kind.SOS, ord("^"): Kind.PM, ord("_"): Kind.APC}


def prefix_kind(keys: dict[bytes, Kind], head: bytes, default: Kind, final: bool) -> Kind | None:
    """The kind of the key ``head`` starts with; None while a key may still match."""
    for key, kind in keys.items():
        if head.startswith(key):
            return kind
    if not final and any(len(head) < len(key) and key.startswith(head) for key in keys):
        return None
    return default


def osc_kind(number: int, c1: bool) -> Kind:
    """The family of a non-allowed OSC number (1337 needs ``prefix_kind`` too)."""
    if number == 52 and c1:
        return Kind.OSC52_C1
    return OSC_KINDS.get(number, Kind.OSC_OTHER)


def starts_any(heads: tuple[bytes, ...], rest: bytes, final: bool) -> bool | None:
    """Whether ``rest`` starts with one of ``heads``; None while it may still."""
    if any(rest.startswith(head) for head in heads):
        return True
    if not final and any(len(rest) < len(h) and h.startswith(rest) for h in heads):
        return None
    return False


JOIN_TAIL = 16
JOIN_HEAD = re.compile(ZM_HEAD.pattern + rb"|" + TZ_HEADS[0])
JOIN_OPEN = re.compile(rb"(?:\*\*?(?:B0?|\x18B?)?|\x18B?|" + _TZ_PREFIXES + rb")\Z")
"""Sent output ending in a proper prefix of a ZMODEM or trzsz trigger."""


def join_cut(tail: bytes, rest: bytes, final: bool) -> tuple[Kind | None, int] | None:
    """A ZMODEM or trzsz trigger begun in already-sent ``tail`` and completed by ``rest``.

    Cutting a run out of the stream joins what was before it to what comes
    after, so ``:`` + (cut) + ``:TRZSZ:TRANSFER:`` must not reach the engineer
    as ``::TRZSZ:TRANSFER:``. Returns (kind, bytes of ``rest`` to cut), (None, 0)
    when nothing joins, or None while ``rest`` is too short to tell.
    """
    joined = tail + rest
    for start in range(len(tail)):
        head = JOIN_HEAD.match(joined, start)
        if head is not None and head.end() > len(tail):
            trzsz = joined[start] == ord(":")
            end = (TZ_FULL if trzsz else ZM_FULL).match(joined, start).end()  # type: ignore[union-attr]
            if end >= len(joined) and not final and end - start < (TZ_MAX if trzsz else ZM_MAX):
                return None
            return (Kind.TRZSZ if trzsz else Kind.ZMODEM), end - len(tail)
        if head is None and not final and _may_start(joined[start:]):
            return None
    return None, 0


def _may_start(fragment: bytes) -> bool:
    """Whether ``fragment`` is a proper prefix of a ZMODEM or trzsz trigger."""
    head = TZ_HEADS[0]
    if len(fragment) < len(head) and head.startswith(fragment):
        return True
    return len(fragment) < 5 and ZM_PREFIX.fullmatch(fragment) is not None


def osc_separator(buf: bytes, i: int, final: bool) -> int | None:
    """After an OSC number: 1 for ``;``, 2 for a terminator, 0 otherwise, None to wait."""
    if i >= len(buf):
        return 0 if final else None
    byte = buf[i]
    if byte == ord(";"):
        return 1
    if byte in (BEL, C1_ST):
        return 2
    if byte not in (ESC, 0xC2):
        return 0
    if i + 1 >= len(buf):
        return 0 if final else None
    return 2 if buf[i + 1] == (ord("\\") if byte == ESC else C1_ST) else 0


def first_stray(text: str, base: int) -> int:
    """Byte offset (from ``base``) of the first raw C1 string introducer, or -1.

    ``text`` is the ``surrogateescape`` decoding of the bytes, so a C1 byte
    outside valid UTF-8 is a lone surrogate U+DC90, U+DC98, U+DC9D .. U+DC9F.
    """
    found = _STRAY.search(text)
    if found is None:
        return -1
    return base + len(text[: found.start()].encode("utf-8", "surrogateescape"))
