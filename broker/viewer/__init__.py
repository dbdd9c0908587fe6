"""The in-region terminal viewer: emulation, rendering and the browser page.

Only pixels leave the region. ``TerminalView`` (terminal.py) turns target
output into image frames, ``FramePump`` (pump.py) paces them to the browser,
protocol.py defines the WebSocket messages, and static/ holds the page. None
of those depends on SSH or the gateway, so live sessions, watching and replay
share them. The live regional viewer is built on them and on the gateway's
session plumbing: web.py (the aiohttp app: headers, Origin, the token
exchange), live.py (one view session: its link, relay and screen) and page.py
(one attached browser page).
"""
