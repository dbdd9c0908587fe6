"""Session recordings (asciicast v2) in the region's folder.

- ``castfile``: the file format, paths and header checks;
- ``recorder``: the writer the gateway feeds (flush, fsync on close, incomplete-marking);
- ``files``: finding, listing and reading recordings, and crash repair;
- ``replay``: replay through the egress filter.
"""

from __future__ import annotations
