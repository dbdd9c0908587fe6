"""The in-region terminal viewer: emulation, rendering and the browser page.

Only pixels leave the region. ``TerminalView`` (terminal.py) turns target
output into image frames, ``FramePump`` (pump.py) paces them to the browser,
protocol.py defines the WebSocket messages, and static/ holds the page. Nothing
here depends on SSH or the gateway, so live sessions, watching and replay share it.
"""
