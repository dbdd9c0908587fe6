"""Renderings with no I/O of their own: SVG charts and the TIA as a PDF document."""
