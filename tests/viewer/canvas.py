"""A test stand-in for the browser's canvas: applies frame messages with Pillow."""

import io
import struct

from PIL import Image

from broker.viewer import protocol
from broker.viewer.render import DEFAULT_BG


class Canvas:
    """What viewer.js does with binary frame messages, in Python."""

    def __init__(self):
        self.image = None
        self.ops = []

    def apply(self, messages):
        """Apply a batch of binary messages in order."""
        for message in messages:
            op, fmt, x, y, w, h, dy = struct.unpack(">BBHHHHh", message[:12])
            self.ops.append(op)
            if op == protocol.OP_CANVAS:
                self.image = Image.new("RGB", (w, h), DEFAULT_BG)
            elif op == protocol.OP_SCROLL:
                self._scroll(x, y, w, h, dy)
            else:
                assert op == protocol.OP_DRAW
                assert fmt == protocol.FORMAT_WEBP
                strip = Image.open(io.BytesIO(message[12:]))
                assert strip.format == "WEBP"
                assert strip.size == (w, h)
                self.image.paste(strip.convert("RGB"), (x, y))
        return self

    def _scroll(self, x, y, w, h, dy):
        if dy < 0:
            moved = self.image.crop((x, y - dy, x + w, y + h))
            self.image.paste(moved, (x, y))
        else:
            moved = self.image.crop((x, y, x + w, y + h - dy))
            self.image.paste(moved, (x, y + dy))
