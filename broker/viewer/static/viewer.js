// The broker's viewer page: draws pixel frames from the region, sends keys back.
// It never receives screen text, keeps no secret in storage, and offers no copy.
// Protocol: broker/viewer/protocol.py (module docstring).
"use strict";

(() => {
  const OP_CANVAS = 1, OP_DRAW = 2, OP_SCROLL = 3;
  const FORMATS = { 1: "image/png", 2: "image/webp" };
  const MAX_PASTE_BYTES = 64 * 1024;
  const COLS = [20, 400], ROWS = [5, 200];
  const ERRORS = {
    token_invalid: "This viewer link is not valid. Ask for a new one with `broker session resume`.",
    token_expired: "This viewer link has expired. Ask for a new one with `broker session resume`.",
    token_used: "This viewer link was already used. Ask for a new one with `broker session resume`.",
    session_busy: "This session is already open in another viewer.",
    wrong_region: "This link belongs to another region's viewer.",
    too_large: "That was too large to send (pastes are limited to 64 KiB).",
    read_only: "This is a read-only view: your keys go nowhere.",
    waiting_for_watcher: "Input is held until the customer's admin watches this session.",
    no_recording: "This session has no recording in this region.",
    not_started: "The engineer has not opened this session yet. Ask for a new link once it runs.",
    session_ended: "This session has ended. Open a new one with `broker session open`.",
    unavailable: "The region cannot open sessions right now (it cannot audit them). Try again later.",
  };
  const CLOSED = "The connection to the regional viewer closed.";
  const PASSING = { read_only: true, waiting_for_watcher: true };
  let passingTimer = null;

  const canvas = document.getElementById("canvas");
  const context = canvas.getContext("2d", { alpha: false });
  const keys = document.getElementById("keys");
  const notice = document.getElementById("notice");
  const screen = document.getElementById("screen");
  const replay = document.getElementById("replay");
  const timeline = document.getElementById("timeline");
  const clock = document.getElementById("clock");
  const markers = document.getElementById("markers");
  const speed = document.getElementById("speed");

  // The token travels in the fragment (never sent to a server in a request);
  // take it and erase it from the address bar and history at once.
  let token = location.hash.length > 1 ? location.hash.slice(1) : null;
  history.replaceState(null, "", location.pathname + location.search);

  let socket = null;
  let grid = null; // {cols, rows, cell_w, cell_h, status_h} from "ready"
  let ended = false;
  let drawing = Promise.resolve();
  let composing = false;
  let wheelRest = 0;
  let refusal = null; // our text for the last error message, kept for the close
  let replaying = false; // a replay takes controls, never keys
  let duration = 0;
  let dragging = false;

  function show(text) {
    notice.textContent = text;
    notice.classList.remove("hidden");
  }

  function hide() {
    notice.classList.add("hidden");
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN && !ended) {
      socket.send(JSON.stringify(message));
    }
  }

  function sendKeys(data) {
    if (data) send({ type: "input", data });
  }

  // --- frames ---------------------------------------------------------------

  async function apply(buffer) {
    const view = new DataView(buffer);
    const op = view.getUint8(0), format = view.getUint8(1);
    const x = view.getUint16(2), y = view.getUint16(4);
    const w = view.getUint16(6), h = view.getUint16(8), dy = view.getInt16(10);
    if (op === OP_CANVAS) {
      canvas.width = w;
      canvas.height = h;
      context.fillStyle = "#101216";
      context.fillRect(0, 0, w, h);
    } else if (op === OP_SCROLL) {
      context.drawImage(canvas, x, y, w, h, x, y + dy, w, h);
    } else if (op === OP_DRAW && FORMATS[format]) {
      const blob = new Blob([new Uint8Array(buffer, 12)], { type: FORMATS[format] });
      const bitmap = await createImageBitmap(blob);
      context.drawImage(bitmap, x, y);
      bitmap.close();
    }
  }

  function control(message) {
    if (message.type === "ready") {
      grid = message;
      hide();
      fit();
    } else if (message.type === "end") {
      ended = true;
      show(message.message);
    } else if (message.type === "timeline") {
      showTimeline(message);
    } else if (message.type === "position") {
      showPosition(message);
    } else if (message.type === "error" && message.code in PASSING) {
      // The session goes on: say it for a moment, not as the reason it closed.
      show(ERRORS[message.code]);
      clearTimeout(passingTimer);
      passingTimer = setTimeout(hide, 3000);
    } else if (message.type === "error") {
      refusal = ERRORS[message.code] || "The regional viewer refused a message (" + message.code + ").";
      show(refusal);
    }
  }

  function onMessage(event) {
    if (typeof event.data === "string") {
      control(JSON.parse(event.data));
      return;
    }
    const buffer = event.data;
    drawing = drawing.then(() => apply(buffer)).catch(() => show("A frame could not be drawn."));
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(scheme + "//" + location.host + "/ws");
    socket.binaryType = "arraybuffer";
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "hello", token: token || "" }));
      token = null;
    });
    socket.addEventListener("message", onMessage);
    socket.addEventListener("close", () => {
      if (!ended) show(refusal || CLOSED);
      ended = true;
    });
  }

  // --- replay controls (times and marker kinds only; never recording text) -----

  function clockText(ms) {
    const seconds = Math.floor(ms / 1000);
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    const mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(s).padStart(2, "0");
  }

  function showTimeline(message) {
    replaying = true;
    duration = message.duration_ms;
    document.body.classList.add("replaying");
    replay.classList.remove("hidden");
    timeline.max = String(duration);
    markers.replaceChildren(...message.markers.map((marker) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "marker";
      button.dataset.kind = marker.kind;
      button.dataset.ms = String(marker.ms);
      button.textContent = clockText(marker.ms) + " " + marker.kind;
      button.addEventListener("click", () => send({ type: "seek", ms: marker.ms }));
      return button;
    }));
    fit();
  }

  function showPosition(message) {
    if (!dragging) timeline.value = String(message.ms);
    timeline.dataset.playing = String(message.playing);
    clock.textContent = clockText(message.ms) + " / " + clockText(duration);
    speed.value = String(message.percent);
  }

  document.getElementById("play").addEventListener("click", () => send({ type: "play" }));
  document.getElementById("pause").addEventListener("click", () => send({ type: "pause" }));
  speed.addEventListener("change", () => send({ type: "speed", percent: Number(speed.value) }));
  timeline.addEventListener("input", () => { dragging = true; });
  timeline.addEventListener("change", () => {
    dragging = false;
    send({ type: "seek", ms: Number(timeline.value) });
  });

  // --- keyboard ---------------------------------------------------------------

  const NAMED = {
    Enter: "\r", Backspace: "\x7f", Tab: "\t", Escape: "\x1b",
    Insert: "\x1b[2~", Delete: "\x1b[3~", PageUp: "\x1b[5~", PageDown: "\x1b[6~",
    F5: "\x1b[15~", F6: "\x1b[17~", F7: "\x1b[18~", F8: "\x1b[19~",
    F9: "\x1b[20~", F10: "\x1b[21~", F11: "\x1b[23~", F12: "\x1b[24~",
  };
  const CURSOR = { ArrowUp: "A", ArrowDown: "B", ArrowRight: "C", ArrowLeft: "D", Home: "H", End: "F" };
  const SS3 = { F1: "P", F2: "Q", F3: "R", F4: "S" };
  const CONTROL = { " ": "\x00", "@": "\x00", "[": "\x1b", "\\": "\x1c", "]": "\x1d", "^": "\x1e", _: "\x1f", "?": "\x7f" };

  function modifier(event) {
    // xterm's parameter: 1 + shift + 2*alt + 4*ctrl
    return 1 + (event.shiftKey ? 1 : 0) + (event.altKey ? 2 : 0) + (event.ctrlKey ? 4 : 0);
  }

  function encode(event) {
    const mod = modifier(event);
    if (event.key in CURSOR) {
      const final = CURSOR[event.key];
      return mod > 1 ? "\x1b[1;" + mod + final : "\x1b[" + final;
    }
    if (event.key in SS3) {
      return mod > 1 ? "\x1b[1;" + mod + SS3[event.key] : "\x1bO" + SS3[event.key];
    }
    if (event.key === "Tab" && event.shiftKey) return "\x1b[Z";
    if (event.key in NAMED) {
      const seq = NAMED[event.key];
      if (mod > 1 && seq.endsWith("~")) return seq.slice(0, -1) + ";" + mod + "~";
      return (event.altKey ? "\x1b" : "") + seq;
    }
    if ([...event.key].length !== 1) return null;
    let data = event.key;
    if (event.ctrlKey) {
      const lower = data.toLowerCase();
      if (lower >= "a" && lower <= "z") data = String.fromCharCode(lower.charCodeAt(0) - 96);
      else if (data in CONTROL) data = CONTROL[data];
      else return null;
    }
    return (event.altKey ? "\x1b" : "") + data;
  }

  function isPasteKey(event) {
    const v = event.key === "v" || event.key === "V";
    return (v && (event.ctrlKey || event.metaKey)) || (event.key === "Insert" && event.shiftKey);
  }

  function onKeyDown(event) {
    if (replaying) return;
    if (event.isComposing || event.key === "Process" || composing) return;
    if (isPasteKey(event)) return; // let the browser raise a paste event
    if (event.metaKey) return;
    const data = encode(event);
    if (data === null) return;
    event.preventDefault();
    sendKeys(data);
  }

  function onInput() {
    // Only text the browser inserted without a keydown we handled (IME, mobile).
    if (composing || replaying) return;
    sendKeys(keys.value);
    keys.value = "";
  }

  function onCompositionEnd(event) {
    composing = false;
    sendKeys(event.data);
    keys.value = "";
  }

  // --- paste (ingress, capped), and everything that could copy out -----------

  function onPaste(event) {
    event.preventDefault();
    if (replaying) return;
    const text = (event.clipboardData && event.clipboardData.getData("text/plain")) || "";
    if (!text) return;
    const data = text.replace(/\r\n?|\n/g, "\r");
    if (new TextEncoder().encode(data).length > MAX_PASTE_BYTES) {
      show(ERRORS.too_large);
      setTimeout(hide, 3000);
      return;
    }
    send({ type: "paste", data });
  }

  function refuse(event) {
    event.preventDefault();
  }

  // --- size and scrolling ------------------------------------------------------

  let fitTimer = null;

  function fit() {
    if (!grid) return;
    clearTimeout(fitTimer);
    fitTimer = setTimeout(() => {
      const clamp = (v, [lo, hi]) => Math.max(lo, Math.min(hi, v));
      const cols = clamp(Math.floor(screen.clientWidth / grid.cell_w), COLS);
      const rows = clamp(Math.floor((screen.clientHeight - grid.status_h) / grid.cell_h), ROWS);
      if (cols !== grid.cols || rows !== grid.rows) {
        grid = { ...grid, cols, rows };
        send({ type: "resize", cols, rows });
      }
    }, 100);
  }

  function onWheel(event) {
    event.preventDefault();
    if (!grid) return;
    const pixels = event.deltaMode === 1 ? event.deltaY * grid.cell_h : event.deltaY;
    wheelRest += pixels;
    const lines = Math.trunc(wheelRest / grid.cell_h);
    if (lines) {
      wheelRest -= lines * grid.cell_h;
      send({ type: "scroll", lines });
    }
  }

  // --- wiring ------------------------------------------------------------------

  document.addEventListener("keydown", onKeyDown);
  keys.addEventListener("input", onInput);
  keys.addEventListener("compositionstart", () => { composing = true; });
  keys.addEventListener("compositionend", onCompositionEnd);
  document.addEventListener("paste", onPaste);
  for (const name of ["copy", "cut", "selectstart", "dragstart", "drop", "contextmenu", "beforeprint"]) {
    document.addEventListener(name, refuse);
  }
  screen.addEventListener("wheel", onWheel, { passive: false });
  screen.addEventListener("mousedown", (event) => { event.preventDefault(); keys.focus(); });
  new ResizeObserver(fit).observe(screen);
  keys.focus();
  connect();
})();
