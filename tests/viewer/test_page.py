"""The viewer page alone, in Debian's real Chromium: pixels in, keys out, no text.

A small aiohttp server (ephemeral loopback port) serves broker/viewer/static
with the CSP the regional viewer will use, and a /ws that drives a
``TerminalView`` fed by a local ``bash`` on a PTY. The session plumbing
(tokens, sessions, audit) is tested elsewhere; this checks the page and the
component: typing reaches bash, frames come back and compose to the server's
own rendering, and a canary printed by bash is in the server's screen but
nowhere in the browser as text.
"""

import asyncio
import base64
import contextlib
import fcntl
import os
import pty
import struct
import termios
from importlib import resources
from pathlib import Path

import pytest
from aiohttp import WSMsgType, web
from PIL import Image, ImageChops

from broker.errors import InputError
from broker.viewer import protocol
from broker.viewer.protocol import Hello, Input, Paste, Resize, Scroll, parse_client
from broker.viewer.pump import FramePump
from broker.viewer.terminal import TerminalView, Watermark
from tests.viewer.browser import ARGS, CHROMIUM, wait_for_js
from tests.viewer.canvas import Canvas

TOKEN = "t0ken-for-the-page-test"
CANARY = "CANARY-7f3a9c51"
# Typed at the prompt: prints the canary without containing it.
PRINT_CANARY = "printf 'CAN%sRY-7f3a9c51\\n' A"
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Shell:
    """``bash --norc`` on a PTY, its output fed to a view."""

    def __init__(self, tmp_path):
        self.master, slave = pty.openpty()
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TERM": "xterm-256color",
               "PS1": "$ ", "LANG": "C.UTF-8"}  # fmt: skip
        self.process = None
        self._slave = slave
        self._env = env

    async def start(self):
        self.process = await asyncio.create_subprocess_exec(
            "bash", "--norc", "--noprofile", "-i",
            stdin=self._slave, stdout=self._slave, stderr=self._slave,
            env=self._env, start_new_session=True, preexec_fn=_take_terminal,
        )  # fmt: skip
        os.close(self._slave)

    def resize(self, cols, rows):
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def write(self, data):
        os.write(self.master, data)

    async def stop(self):
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.process.wait()
        os.close(self.master)


def _take_terminal():
    """In the child: make the PTY the controlling terminal (Ctrl+C reaches bash)."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class ViewerServer:
    """Static page plus /ws, one session; records what was sent."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.view = None
        self.shell = None
        self.sent_canvas = Canvas()
        self.received = []
        self.ended = asyncio.Event()
        self.socket = None

    def app(self):
        app = web.Application()
        app.router.add_get("/", self.page)
        app.router.add_get("/viewer.js", self.static)
        app.router.add_get("/viewer.css", self.static)
        app.router.add_get("/ws", self.websocket)
        return app

    async def page(self, request):
        return self._file("viewer.html", "text/html")

    async def static(self, request):
        name = request.path.lstrip("/")
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        return self._file(name, kind)

    def _file(self, name, kind):
        body = resources.files("broker.viewer").joinpath("static", name).read_bytes()
        return web.Response(body=body, content_type=kind, headers=HEADERS)

    async def websocket(self, request):
        socket = web.WebSocketResponse(max_msg_size=protocol.MAX_CLIENT_MESSAGE)
        await socket.prepare(request)
        self.socket = socket
        first = await socket.receive()
        hello = parse_client(first.data)
        if not isinstance(hello, Hello) or hello.token != TOKEN:
            await socket.send_str(protocol.error("token_invalid"))
            await socket.close()
            return socket
        await self._session(socket)
        return socket

    async def _session(self, socket):
        self.view = TerminalView(80, 24, watermark=Watermark("staff-7", "0f3c-session"))
        self.shell = Shell(self.tmp_path)
        self.shell.resize(80, 24)
        await self.shell.start()

        async def send(message):
            self.sent_canvas.apply([message])
            await socket.send_bytes(message)

        pump = FramePump(self.view, send, refresh=self.view.refresh_in)
        await socket.send_str(self.view.ready_message())
        pump.start()
        loop = asyncio.get_running_loop()
        loop.add_reader(self.shell.master, self._output, pump)
        try:
            async for message in socket:
                if message.type != WSMsgType.TEXT:
                    break
                await self._handle(socket, message.data, pump)
        finally:
            loop.remove_reader(self.shell.master)
            await pump.stop(final_frame=False)
            await self.shell.stop()

    def _output(self, pump):
        try:
            data = os.read(self.shell.master, 65536)
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.shell.master)
            return
        self.view.feed(data)
        replies = self.view.take_replies()
        if replies:
            self.shell.write(replies)
        pump.wake()

    async def _handle(self, socket, text, pump):
        try:
            message = parse_client(text)
        except InputError as problem:
            await socket.send_str(protocol.error_for(problem))
            return
        self.received.append(message)
        if isinstance(message, Input):
            self.shell.write(self.view.encode_keys(message.data))
        elif isinstance(message, Paste):
            self.shell.write(self.view.encode_paste(message.data))
        elif isinstance(message, Resize):
            self.view.resize(message.cols, message.rows)
            self.shell.resize(message.cols, message.rows)
            await socket.send_str(self.view.ready_message())
        elif isinstance(message, Scroll):
            self.view.scroll(message.lines)
        pump.wake()

    async def end(self, reason):
        await self.socket.send_str(protocol.end(reason))
        await self.socket.close()

    def screen_text(self):
        screen = self.view._screen
        return "\n".join(
            "".join(screen.buffer[y][x].data for x in range(screen.columns)).rstrip()
            for y in range(screen.lines)
        )


@pytest.fixture
async def server(tmp_path):
    viewer = ViewerServer(tmp_path)
    runner = web.AppRunner(viewer.app(), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    viewer.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/"
    yield viewer
    if viewer.socket is not None:
        await viewer.socket.close()
    await runner.cleanup()


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        await chromium.close()


class Recorder:
    """Everything the page could leak through: console and WebSocket frames."""

    def __init__(self, page):
        self.console = []
        self.frames = []
        page.on("console", lambda message: self.console.append(message.text))
        page.on("websocket", self._socket)

    def _socket(self, socket):
        socket.on("framereceived", self._frame)
        socket.on("framesent", self._frame)

    def _frame(self, payload):
        # A bound method, not list.append: Playwright tags its handlers with an attribute.
        self.frames.append(payload)

    def binary_frames(self):
        return [f for f in self.frames if isinstance(f, bytes)]


def encodings(text):
    """The forms a leak could take: raw, base64 (three alignments), UTF-16."""
    raw = text.encode()
    forms = [raw, text.encode("utf-16-le"), text.encode("utf-16-be")]
    for shift in range(3):
        encoded = base64.b64encode(b"x" * shift + raw)[4 * ((shift + 2) // 3) : -4]
        forms.append(encoded)
    return [form for form in forms if form]


async def open_page(browser, server, width=900, height=560):
    context = await browser.new_context(viewport={"width": width, "height": height})
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = await context.new_page()
    recorder = Recorder(page)
    await page.goto(server.url + "#" + TOKEN)
    await wait_for_js(page, "document.getElementById('canvas').width > 0")
    await wait_screen(server, "$")
    return page, recorder


async def wait_screen(server, text):
    """Until the server-side screen shows ``text`` (15 s at most)."""
    deadline = asyncio.get_running_loop().time() + 15.0
    while server.view is None or text not in server.screen_text():
        assert asyncio.get_running_loop().time() < deadline, (
            f"{text!r} never shown in:\n{server.screen_text() if server.view else ''}"
        )
        await asyncio.sleep(0.05)


async def wait_for_sleep(session):
    """Until a ``sleep`` runs in the shell's session (so Ctrl+C has a target)."""
    for _ in range(200):
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                fields = stat.read_text().rsplit(")", 1)
                if fields[0].endswith("(sleep") and int(fields[1].split()[3]) == session:
                    return
        await asyncio.sleep(0.05)
    raise AssertionError("sleep never started")


async def settle_frames(server, page):
    """Until the browser has drawn everything the server sent (canvases agree)."""
    for _ in range(100):
        await asyncio.sleep(0.1)
        if same(await canvas_image(page), server.sent_canvas.image):
            return True
    return False


async def canvas_image(page):
    """The browser canvas's pixels, read back to the test (not into the DOM)."""
    url = await page.evaluate("document.getElementById('canvas').toDataURL('image/png')")
    import io

    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")


def same(a, b):
    return a.size == b.size and ImageChops.difference(a, b).getbbox() is None


class TestPage:
    """The page in Chromium against a real bash."""

    async def test_typing_reaches_bash_and_frames_compose(self, browser, server):
        """Typed ``echo`` runs in bash; the browser's canvas ends pixel-identical
        to the server's own rendering of the frames it sent."""
        page, _recorder = await open_page(browser, server)
        before = len(server.received)
        await page.keyboard.type("echo hello-from-the-page")
        await page.keyboard.press("Enter")
        await wait_screen(server, "\nhello-from-the-page")
        assert len(server.received) > before
        assert await settle_frames(server, page)
        assert "#" not in page.url  # the token left the address bar at once

    async def test_canary_never_leaves_as_text(self, browser, server):
        """A canary printed by bash is on the server's screen but not in the DOM,
        title, storage, console, any WebSocket frame, or the clipboard after
        Ctrl+A, Ctrl+C."""
        page, recorder = await open_page(browser, server)
        await page.evaluate("navigator.clipboard.writeText('clipboard-before')")
        await page.keyboard.type(PRINT_CANARY)
        await page.keyboard.press("Enter")
        await wait_screen(server, CANARY)
        assert await settle_frames(server, page)
        await page.keyboard.press("Control+a")
        await page.keyboard.press("Control+c")
        await wait_screen(server, "^C")  # bash got Ctrl+C; the browser copied nothing
        clipboard = await page.evaluate("navigator.clipboard.readText()")
        assert CANARY not in clipboard
        assert clipboard == "clipboard-before"
        assert CANARY not in await page.content()
        assert await page.title() == "Broker viewer"
        storage = await page.evaluate(
            "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage),"
            " document.cookie])"
        )
        assert storage == '[[],[],""]'
        assert not any(CANARY in line for line in recorder.console)
        assert recorder.binary_frames()
        for frame in recorder.frames:
            blob = frame if isinstance(frame, bytes) else frame.encode()
            for form in encodings(CANARY):
                assert form not in blob
        assert TOKEN not in await page.content()

    async def test_keys(self, browser, server):
        """Arrow up recalls history, Ctrl+C interrupts, Tab completes."""
        page, _ = await open_page(browser, server)
        await page.keyboard.type("echo first-$((40+2))")
        await page.keyboard.press("Enter")
        await wait_screen(server, "first-42")
        await page.keyboard.press("ArrowUp")
        await page.keyboard.press("Enter")
        await wait_screen(server, "first-42\n$ echo first-$((40+2))\nfirst-42")
        await page.keyboard.type("sleep 100")
        await page.keyboard.press("Enter")
        await wait_for_sleep(server.shell.process.pid)
        await page.keyboard.press("Control+c")
        await page.keyboard.type("echo after-$((6*7))")
        await page.keyboard.press("Enter")
        await wait_screen(server, "after-42")
        for key in ("Alt+b", "F1", "Control+ArrowLeft", "Shift+Tab", "PageUp"):
            await page.keyboard.press(key)
        keys = [m.data for m in server.received if isinstance(m, Input)]
        assert "\x1b[A" in keys
        assert "\x03" in keys
        for sequence in ("\x1bb", "\x1bOP", "\x1b[1;5D", "\x1b[Z", "\x1b[5~"):
            for _ in range(100):
                keys = [m.data for m in server.received if isinstance(m, Input)]
                if sequence in keys:
                    break
                await asyncio.sleep(0.02)
            assert sequence in keys

    async def test_text_without_keydown(self, browser, server):
        """Text the browser inserts without a key event (IME, on-screen
        keyboards) is sent as typed and leaves the input box empty."""
        page, _ = await open_page(browser, server)
        await page.keyboard.insert_text("echo 日本-ime")
        await page.keyboard.press("Enter")
        await wait_screen(server, "\n日本-ime")
        assert await page.input_value("#keys") == ""

    async def test_resize_reaches_the_pty(self, browser, server):
        """A bigger window gives more columns: the PTY's size follows."""
        page, _ = await open_page(browser, server, width=900, height=560)
        await page.set_viewport_size({"width": 1300, "height": 700})
        cell_w, cell_h = server.view.cell_size
        cols, rows = 1300 // cell_w, (700 - server.view.status_height) // cell_h
        for _ in range(100):
            if Resize(cols, rows) in server.received:
                break
            await asyncio.sleep(0.05)
        assert Resize(cols, rows) in server.received
        await page.keyboard.type("stty size")
        await page.keyboard.press("Enter")
        await wait_screen(server, f"{rows} {cols}")
        assert server.view.size == (cols, rows)
        assert await settle_frames(server, page)
        assert (await canvas_image(page)).size == server.view.canvas_size

    async def test_paste_is_sent_capped(self, browser, server):
        """A paste arrives as one paste message; one over 64 KiB is not sent."""
        page, _ = await open_page(browser, server)
        await page.evaluate("navigator.clipboard.writeText('echo pasted-$((1+1))')")
        await page.keyboard.press("Control+v")
        await page.keyboard.press("Enter")
        await wait_screen(server, "pasted-2")
        assert [m for m in server.received if isinstance(m, Paste)]
        await page.evaluate("navigator.clipboard.writeText('x'.repeat(70000))")
        await page.keyboard.press("Control+v")
        await wait_for_js(page, "document.getElementById('notice').textContent.includes('64 KiB')")
        assert len([m for m in server.received if isinstance(m, Paste)]) == 1

    async def test_end_shows_our_reason(self, browser, server):
        """An ``end`` message shows our fixed explanation on the page."""
        page, _ = await open_page(browser, server)
        await server.end("revoked")
        text = protocol.END_REASONS["revoked"]
        await wait_for_js(
            page, f"document.getElementById('notice').textContent === {text!r}", seconds=5.0
        )
        assert await page.is_visible("#notice")

    async def test_wrong_token_is_refused(self, browser, server):
        """A wrong token gets our refusal text and no frames."""
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(server.url + "#not-the-token")
        await wait_for_js(
            page, "document.getElementById('notice').textContent.includes('not valid')"
        )
        assert await page.evaluate("document.getElementById('canvas').width") == 300

    async def test_wheel_scrolls_server_side(self, browser, server):
        """The wheel sends ``scroll``; the server's view moves into its scrollback
        and the canvas shows it; the key input box holds nothing typed."""
        page, _ = await open_page(browser, server)
        await page.keyboard.type("seq 1 200")
        await page.keyboard.press("Enter")
        await wait_screen(server, "200")
        assert await settle_frames(server, page)
        live = await canvas_image(page)
        await page.mouse.move(200, 200)
        await page.mouse.wheel(0, -400)
        for _ in range(100):
            if server.view.scroll_offset:
                break
            await asyncio.sleep(0.05)
        assert [m for m in server.received if isinstance(m, Scroll) and m.lines < 0]
        assert server.view.scroll_offset > 0
        assert await settle_frames(server, page)
        assert not same(await canvas_image(page), live)
        assert await page.input_value("#keys") == ""

    async def test_print_shows_nothing(self, browser, server):
        """Printed, the page is empty."""
        page, _ = await open_page(browser, server)
        await page.emulate_media(media="print")
        assert not await page.is_visible("#canvas")
