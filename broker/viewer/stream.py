"""``ViewStream``: pyte's byte stream with fast paths for the ground state.

In the parser's ground state one regular expression match takes a whole token:
a run of text, a complete ``CSI [?] params final``, a complete ``OSC code ;
text ST``, LF or CR, dispatched exactly as pyte's character-at-a-time parser
would. Anything else (split sequences, C1 controls, intermediates) goes through
pyte's parser until it is back in its ground state. A chunk of only printable
ASCII, CR and LF goes to ``ViewScreen.feed_plain`` whole.

A handler that rejects its arguments (``CSI ? 5 m`` raises ``TypeError`` in
pyte) is ignored, so no target output can stop the viewer.
"""

from __future__ import annotations

import re

import pyte
from pyte import modes as mo
from pyte.screens import Char

from broker.viewer.emulator import ViewScreen

_PLAIN_BYTES = re.compile(rb"[\x20-\x7e\r\n]*")
# One token in the parser's ground state; ``lastgroup`` names its kind.
_TOKEN = re.compile(
    "(?P<text>" + pyte.Stream._text_pattern.pattern + ")"
    r"|\x1b\[(?P<private>\??)(?P<params>[0-9;]*)(?P<final>[\x40-\x7e])"
    r"|\x1b\](?P<code>[^RP\x1b])(?P<param>[^\x07\x1b\x9c]*)(?:\x07|\x1b\\|\x9c)"
    r"|(?P<lf>\n)|(?P<cr>\r)"
)
_SGR_CACHE_LIMIT = 512


class ViewStream(pyte.ByteStream):
    """pyte's byte stream with fast paths for plain text, CR/LF, CSI and OSC."""

    def __init__(self, screen: ViewScreen) -> None:
        super().__init__(screen)
        self.screen = screen
        self._sgr_cache: dict[tuple[Char, str, bool], Char] = {}
        self._csi_handlers = {
            final: getattr(screen, name) for final, name in pyte.Stream.csi.items()
        }

    def feed(self, data: bytes) -> None:  # type: ignore[override]  # as pyte's ByteStream
        """Plain chunks in the ground state go to ``ViewScreen.feed_plain``."""
        if (
            self._taking_plain_text
            and self.use_utf8
            and not self.utf8_decoder.getstate()[0]
            and _PLAIN_BYTES.fullmatch(data)
        ):
            self.screen.feed_plain(data.decode("ascii"))
            return
        if self.use_utf8:
            self._feed_text(self.utf8_decoder.decode(data))
        else:
            self._feed_text("".join(map(chr, data)))

    def _feed_text(self, data: str) -> None:
        """pyte's ``Stream.feed`` with the ground-state fast paths: one regex
        match per token (text, CSI, OSC, LF, CR); anything else goes to pyte's
        parser one character at a time until it is back in its ground state."""
        screen = self.screen
        draw, lf, cr, sgr = screen.draw, screen.linefeed, screen.carriage_return, self._sgr
        token = _TOKEN.match
        taking, offset, length = self._taking_plain_text, 0, len(data)
        while offset < length:
            match = token(data, offset) if taking else None
            if match is None:
                taking = self._step(data[offset])
                offset += 1
                continue
            kind, offset = match.lastgroup, match.end()
            if kind == "text":
                draw(match.group())
            elif kind == "final":
                if match.group("final") == "m" and not match.group("private"):
                    sgr(match.group("params"))
                else:
                    self._csi(match)
            elif kind == "lf":
                lf()
            elif kind == "cr":
                cr()
            else:
                self._osc(match)
        self._taking_plain_text = taking

    def _step(self, char: str) -> bool:
        """One character through pyte's parser; a rejected sequence is dropped."""
        try:
            return bool(self._send_to_parser(char))
        except (TypeError, ValueError):  # pyte has reset its parser to the ground state
            return True

    def _sgr(self, params: str) -> None:
        """``CSI params m``, remembered by its text: the new attributes depend
        only on the current ones, the text and the screen's reverse mode."""
        screen = self.screen
        key = (screen.cursor.attrs, params, mo.DECSCNM in screen.mode)
        known = self._sgr_cache.get(key)
        if known is None:
            screen.select_graphic_rendition(*_numbers(params))
            if len(self._sgr_cache) >= _SGR_CACHE_LIMIT:
                self._sgr_cache.clear()
            known = self._sgr_cache[key] = screen.cursor.attrs
        screen.cursor.attrs = known

    def _osc(self, match: re.Match[str]) -> None:
        """A complete OSC: titles are kept (for the status bar), the rest ignored."""
        code, param = match.group("code"), match.group("param")[1:]
        if code in "01":
            self.screen.set_icon_name(param)
        if code in "02":
            self.screen.set_title(param)

    def _csi(self, match: re.Match[str]) -> None:
        """A complete CSI sequence, dispatched as pyte's parser would."""
        handler = self._csi_handlers.get(match.group("final"), self.screen.debug)
        params = _numbers(match.group("params"))
        try:
            if match.group("private"):
                handler(*params, private=True)
            else:
                handler(*params)
        except (TypeError, ValueError):  # e.g. a private flag the handler does not take
            pass


def _numbers(params: str) -> list[int]:
    """CSI parameters as pyte reads them: empty is 0, at most 9999."""
    return [min(int(p or 0), 9999) for p in params.split(";")]
