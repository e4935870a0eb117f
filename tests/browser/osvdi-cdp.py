#!/usr/bin/env python3
# OSVDI - a small Chrome DevTools Protocol driver for headless Chromium
# SPDX-License-Identifier: Apache-2.0
"""Drive Debian's headless Chromium over the DevTools protocol, stdlib only.

The browser runs with --remote-debugging-pipe: it reads commands on its
fd 3 and writes answers and events on its fd 4, each a JSON object ended by
a NUL byte, so no websocket library is needed. Each Browser has its own
profile in a temporary directory, reaches no network beyond the hosts its
URL needs, and is killed (its whole process group) when it is closed or a
bound runs out: it never outlives the Browser.

As a library (the file name has a dash: load it with importlib, see
load() below or tests/browser/html5-test.py):

    with Browser(width=800, height=600) as b:
        b.open("http://127.0.0.1:6080/spice_auto.html?...")
        b.wait_for("document.querySelector('video') !== null", timeout=30)
        img = b.screenshot()            # Image: .width .height .pixel(x, y)
        b.press("Enter"); b.type_text("hi")
        print(b.console)                # console messages, JS errors, dialogs

As a command:

    osvdi-cdp.py URL [--wait EXPR] [--timeout S] [--type TEXT]
                 [--press KEY ...] [--eval EXPR] [--screenshot FILE.png]
                 [--allow-host HOST ...]

On a failure the command prints what the page logged; it exits 1 when a
--wait condition stays false, 2 on a usage error.
"""

import argparse
import atexit
import base64
import json
import os
import shutil
import signal
import struct
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib

__all__ = ["Browser", "BrowserError", "Image", "decode_png", "find_chromium",
           "load"]

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


class BrowserError(Exception):
    """The browser failed, a command failed, or a bound ran out. The message
    ends with the page's console and errors so far."""


def find_chromium():
    """The Chromium binary on PATH, or None."""
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def load(path=None):
    """This module, loaded from its file (its name has a dash)."""
    import importlib.util
    path = path or __file__
    spec = importlib.util.spec_from_file_location("osvdi_cdp", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --------------------------------------------------------------------------
# PNG, decoded with zlib alone

class Image:
    """RGB pixels: width, height, rows of width * 3 bytes."""

    def __init__(self, width, height, rgb, png=b""):
        self.width = width
        self.height = height
        self.rgb = rgb
        self.png = png

    def pixel(self, x, y):
        i = (y * self.width + x) * 3
        return tuple(self.rgb[i:i + 3])

    def mean(self, x, y, radius=2):
        """The mean colour of the (2 radius + 1)² square around (x, y),
        clipped to the image: steadier than one pixel of a lossy picture."""
        acc = [0, 0, 0]
        n = 0
        for yy in range(max(0, y - radius), min(self.height, y + radius + 1)):
            for xx in range(max(0, x - radius), min(self.width, x + radius + 1)):
                p = self.pixel(xx, yy)
                acc = [a + b for a, b in zip(acc, p)]
                n += 1
        return tuple(round(a / n) for a in acc) if n else (0, 0, 0)

    def save(self, path):
        with open(path, "wb") as f:
            f.write(self.png)


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode_png(data):
    """Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium's
    screenshots are) to an Image of RGB pixels."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos = 8
    idat = []
    width = height = None
    channels = 0
    while pos < len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if ctype == b"IHDR":
            width, height, depth, colour, _, _, interlace = \
                struct.unpack(">IIBBBBB", body)
            if depth != 8 or colour not in (2, 6) or interlace:
                raise ValueError(f"PNG depth {depth} colour type {colour} "
                                 f"interlace {interlace}: not supported")
            channels = 3 if colour == 2 else 4
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
    if width is None:
        raise ValueError("PNG without IHDR")
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    prev = bytearray(stride)
    out = bytearray(width * height * 3)
    bpp = channels
    for y in range(height):
        start = y * (stride + 1)
        ftype = raw[start]
        line = bytearray(raw[start + 1:start + 1 + stride])
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xff
        elif ftype == 2:
            line = bytearray((a + b) & 0xff for a, b in zip(line, prev))
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xff
        elif ftype == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                upleft = prev[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + _paeth(left, prev[i], upleft)) & 0xff
        elif ftype != 0:
            raise ValueError(f"PNG filter type {ftype}")
        if channels == 3:
            out[y * width * 3:(y + 1) * width * 3] = line
        else:
            row = y * width * 3
            out[row:row + width * 3:3] = line[0::4]
            out[row + 1:row + width * 3:3] = line[1::4]
            out[row + 2:row + width * 3:3] = line[2::4]
        prev = line
    return Image(width, height, bytes(out), data)


# --------------------------------------------------------------------------
# Keys: what Chromium needs so that a page sees the same KeyboardEvent as from
# a real US keyboard (key, code, keyCode). spice-html5 maps keyCode to PC
# scancodes, so windowsVirtualKeyCode is the field that matters to it.

def _key_table():
    t = {}
    for c in "abcdefghijklmnopqrstuvwxyz":
        t[c] = (c, "Key" + c.upper(), ord(c.upper()), c)
    for c in "0123456789":
        t[c] = (c, "Digit" + c, ord(c), c)
    t[" "] = (" ", "Space", 32, " ")
    named = {
        "Enter": ("Enter", "Enter", 13, "\r"),
        "Escape": ("Escape", "Escape", 27, None),
        "Backspace": ("Backspace", "Backspace", 8, None),
        "Tab": ("Tab", "Tab", 9, None),
        "Shift": ("Shift", "ShiftLeft", 16, None),
        "Control": ("Control", "ControlLeft", 17, None),
        "Alt": ("Alt", "AltLeft", 18, None),
        "ArrowLeft": ("ArrowLeft", "ArrowLeft", 37, None),
        "ArrowUp": ("ArrowUp", "ArrowUp", 38, None),
        "ArrowRight": ("ArrowRight", "ArrowRight", 39, None),
        "ArrowDown": ("ArrowDown", "ArrowDown", 40, None),
        "Home": ("Home", "Home", 36, None),
        "End": ("End", "End", 35, None),
        "PageUp": ("PageUp", "PageUp", 33, None),
        "PageDown": ("PageDown", "PageDown", 34, None),
        "Insert": ("Insert", "Insert", 45, None),
        "Delete": ("Delete", "Delete", 46, None),
        "-": ("-", "Minus", 189, "-"),
        "=": ("=", "Equal", 187, "="),
        ";": (";", "Semicolon", 186, ";"),
    }
    t.update(named)
    for n in range(1, 13):
        t[f"F{n}"] = (f"F{n}", f"F{n}", 111 + n, None)
    return t


KEYS = _key_table()
MODIFIER_BITS = {"Alt": 1, "Control": 2, "Meta": 4, "Shift": 8}


# --------------------------------------------------------------------------
# The browser

class Browser:
    """One headless Chromium with one page. Not thread-safe: one caller."""

    def __init__(self, chromium=None, width=1024, height=768,
                 allow_hosts=None, command_timeout=60.0, extra_args=(),
                 verbose=False):
        self.chromium = chromium or find_chromium()
        if not self.chromium:
            raise BrowserError("no chromium on PATH (Debian: apt-get install "
                               "chromium)")
        self.width, self.height = width, height
        self.allow_hosts = list(allow_hosts or [])
        self.command_timeout = command_timeout
        self.extra_args = list(extra_args)
        self.verbose = verbose
        # What the page said, in order: ("console", level, text),
        # ("exception", text), ("dialog", type, message), ("log", level, text)
        self.console = []
        self.dialogs = []
        self.dialog_answer = None   # None: dismiss; a string: accept with it
        self.pid = None
        self.session = None
        self._dir = None
        self._next_id = 0
        self._pending = {}
        self._events = []
        self._cond = threading.Condition()
        self._wlock = threading.Lock()
        self._dead = None
        self._reader = None
        self._to_child = self._from_child = None
        self._load_count = 0

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self):
        # Started by open() (or start()), which knows the URL's host.
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _args(self, first_url_hosts):
        hosts = sorted(set(self.allow_hosts) | set(first_url_hosts))
        args = [
            self.chromium, "--headless=new", "--remote-debugging-pipe",
            f"--user-data-dir={self._dir}/profile",
            f"--window-size={self.width},{self.height}",
            "--no-first-run", "--no-default-browser-check",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-extensions", "--disable-default-apps",
            "--disable-domain-reliability", "--no-pings",
            "--disable-client-side-phishing-detection",
            "--disable-features=Translate,MediaRouter,OptimizationHints,"
            "AutofillServerCommunication,CertificateTransparencyComponentUpdater",
            "--metrics-recording-only", "--password-store=basic",
            "--use-mock-keychain", "--mute-audio", "--hide-scrollbars",
            # spice-html5 plays its VP8 streams in an autoplay <video>
            "--autoplay-policy=no-user-gesture-required",
            "--disable-gpu",
            # No network beyond the URL's hosts: names other than these do
            # not resolve, and addresses other than these (loopback
            # included: <-loopback>) go to a proxy that is not there.
            "--host-resolver-rules=MAP * ~NOTFOUND" +
            "".join(f", EXCLUDE {h}" for h in hosts),
            "--proxy-server=127.0.0.1:9",
            # (Chromium reads later bypass rules first: <-loopback> first.)
            "--proxy-bypass-list=" + ";".join(["<-loopback>"] + hosts),
        ]
        if os.geteuid() == 0:
            # Chromium's sandbox refuses to run as root (it needs an
            # unprivileged user for its namespaces or setuid helper); tests
            # and CI run as root here, and the pages they open are our own
            # test pages on loopback.
            args.append("--no-sandbox")
        return args + self.extra_args + ["about:blank"]

    def start(self, hosts=()):
        """Starts the browser and opens its page (about:blank). hosts: more
        hosts the page may reach (open() adds its URL's host)."""
        if self.pid:
            return
        self._dir = tempfile.mkdtemp(prefix="osvdi-cdp-")
        # A Browser its caller never closed still goes at interpreter exit.
        atexit.register(self.close)
        cmd_r, cmd_w = os.pipe()
        res_r, res_w = os.pipe()
        log = os.open(os.path.join(self._dir, "chromium.log"),
                      os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        devnull = os.open(os.devnull, os.O_RDONLY)
        actions = [
            (os.POSIX_SPAWN_DUP2, devnull, 0),
            (os.POSIX_SPAWN_DUP2, log, 1),
            (os.POSIX_SPAWN_DUP2, log, 2),
            (os.POSIX_SPAWN_DUP2, cmd_r, 3),
            (os.POSIX_SPAWN_DUP2, res_w, 4),
        ]
        env = dict(os.environ)
        # Chromium starts no D-Bus session and reads no user's config here.
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        env["HOME"] = self._dir
        try:
            # Its own session (and so process group): close() kills all of
            # Chromium's processes at once, renderers and zygotes included.
            self.pid = os.posix_spawn(self.chromium, self._args(hosts), env,
                                      file_actions=actions, setsid=True)
        finally:
            for fd in (cmd_r, res_w, log, devnull):
                os.close(fd)
        self._to_child = cmd_w
        self._from_child = res_r
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        try:
            self._attach()
        except BaseException:
            self.close()
            raise

    def _attach(self):
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next((t for t in targets if t["type"] == "page"), None)
        if page:
            tid = page["targetId"]
        else:
            tid = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=tid,
                                 flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        # A headless page has no window focus: without this, focus() and
        # keyboard events reach nothing.
        self.send("Emulation.setFocusEmulationEnabled", enabled=True)
        self.send("Emulation.setDeviceMetricsOverride", width=self.width,
                  height=self.height, deviceScaleFactor=1, mobile=False)

    def close(self):
        """Asks Chromium to quit, then kills what is left of its process
        group; removes its profile. Safe to call twice."""
        if self.pid:
            if self._dead is None:
                try:
                    self.call("Browser.close", _timeout=5, _session=False)
                except BrowserError:
                    pass
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not self._reap():
                time.sleep(0.05)
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap(block=True)
            self._kill_strays()
            # Killed children go to init to be reaped: wait (bounded) until
            # none of the group is left, so that a caller sees no chromium.
            deadline = time.monotonic() + 10
            while _group_alive(self.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.pid = None
        for fd in (self._to_child, self._from_child):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._to_child = self._from_child = None
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _reap(self, block=False):
        try:
            pid, _ = os.waitpid(self.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return True
        return pid != 0

    def _kill_strays(self):
        """Any process still naming this browser's profile directory (one
        that left the process group) is killed by its PID."""
        mark = f"--user-data-dir={self._dir}/profile".encode()
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if mark in f.read().split(b"\0"):
                        os.kill(int(pid), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                continue

    def chromium_log(self, lines=30):
        try:
            with open(os.path.join(self._dir, "chromium.log"),
                      errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except (OSError, TypeError):
            return ""

    # -- protocol ----------------------------------------------------------

    def _read_loop(self):
        buf = b""
        try:
            while True:
                chunk = os.read(self._from_child, 1 << 16)
                if not chunk:
                    break
                buf += chunk
                while b"\0" in buf:
                    msg, buf = buf.split(b"\0", 1)
                    self._dispatch(json.loads(msg))
        except (OSError, ValueError) as e:
            reason = f"reading the DevTools pipe: {e}"
        else:
            reason = "Chromium closed its DevTools pipe (it exited)"
        with self._cond:
            self._dead = reason
            self._cond.notify_all()

    def _dispatch(self, msg):
        if "id" in msg:
            with self._cond:
                self._pending[msg["id"]] = msg
                self._cond.notify_all()
            return
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(_remote_str(a) for a in p.get("args", []))
            self._note(("console", p.get("type"), text))
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            exc = d.get("exception", {})
            text = exc.get("description") or d.get("text", "")
            self._note(("exception", text))
        elif method == "Log.entryAdded":
            e = p.get("entry", {})
            self._note(("log", e.get("level"), f"{e.get('text')} {e.get('url', '')}"))
        elif method == "Page.javascriptDialogOpening":
            self._note(("dialog", p.get("type"), p.get("message")))
            self.dialogs.append((p.get("type"), p.get("message")))
            # A dialog blocks the page's scripts (and our evaluate calls):
            # answer it at once, from this thread, without waiting.
            ans = self.dialog_answer
            params = {"accept": ans is not None}
            if ans is not None:
                params["promptText"] = ans
            self.send("Page.handleJavaScriptDialog", _wait=False, **params)
        elif method == "Page.loadEventFired":
            with self._cond:
                self._load_count += 1
                self._cond.notify_all()
        with self._cond:
            self._events.append(msg)
            del self._events[:-200]

    def _note(self, entry):
        with self._cond:
            self.console.append(entry)
        if self.verbose:
            print("page:", *entry, file=sys.stderr)

    def send(self, method, _wait=True, _timeout=None, _session=True, **params):
        """Sends a command; returns its result (or None with _wait=False).
        Raises BrowserError on a protocol error or when no answer comes."""
        with self._cond:
            self._next_id += 1
            mid = self._next_id
            if self._dead:
                raise BrowserError(self._dead + self.report())
        msg = {"id": mid, "method": method, "params": params}
        if _session and self.session:
            msg["sessionId"] = self.session
        data = json.dumps(msg).encode() + b"\0"
        with self._wlock:
            try:
                while data:
                    n = os.write(self._to_child, data)
                    data = data[n:]
            except OSError as e:
                raise BrowserError(f"{method}: writing to Chromium: {e}")
        if not _wait:
            return None
        deadline = time.monotonic() + (_timeout or self.command_timeout)
        with self._cond:
            while mid not in self._pending:
                left = deadline - time.monotonic()
                if self._dead:
                    raise BrowserError(f"{method}: {self._dead}" + self.report())
                if left <= 0:
                    raise BrowserError(f"{method}: no answer in "
                                       f"{_timeout or self.command_timeout} s"
                                       + self.report())
                self._cond.wait(left)
            answer = self._pending.pop(mid)
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error'].get('message')} "
                               f"{answer['error'].get('data', '')}")
        return answer.get("result", {})

    def call(self, method, **params):
        return self.send(method, **params)

    # -- the page ----------------------------------------------------------

    def open(self, url, timeout=60.0):
        """Navigates the page to url and waits (bounded) for its load
        event. The URL's host is allowed through the network guard."""
        host = urllib.parse.urlsplit(url).hostname
        if not self.pid:
            self.start(hosts=[host] if host else [])
        elif host and host not in self.allow_hosts:
            # The guard is fixed at start: start the Browser with
            # allow_hosts naming every host its pages need.
            pass
        with self._cond:
            loads = self._load_count
        res = self.send("Page.navigate", url=url)
        if res.get("errorText"):
            raise BrowserError(f"opening {url}: {res['errorText']}" + self.report())
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._load_count == loads:
                left = deadline - time.monotonic()
                if self._dead or left <= 0:
                    raise BrowserError(f"opening {url}: "
                                       f"{self._dead or 'no load event in %s s' % timeout}"
                                       + self.report())
                self._cond.wait(left)

    def evaluate(self, expression, timeout=None):
        """The value of a JS expression (awaited if it is a promise)."""
        res = self.send("Runtime.evaluate", expression=expression,
                        returnByValue=True, awaitPromise=True,
                        _timeout=timeout)
        if "exceptionDetails" in res:
            d = res["exceptionDetails"]
            raise BrowserError(f"evaluating {expression!r}: "
                               f"{d.get('exception', {}).get('description') or d.get('text')}")
        return res.get("result", {}).get("value")

    def wait_for(self, expression, timeout=30.0, interval=0.1, what=None):
        """Waits until the JS expression is truthy (checked every interval,
        at most timeout seconds) and returns its value; raises BrowserError
        naming the condition and the page's log when it stays false. A
        Python callable works too (called with this Browser)."""
        deadline = time.monotonic() + timeout
        last_error = None
        while True:
            try:
                value = (expression(self) if callable(expression)
                         else self.evaluate(expression))
                if value:
                    return value
                last_error = None
            except BrowserError as e:
                if self._dead:
                    raise
                last_error = e
            if time.monotonic() >= deadline:
                name = what or (expression if isinstance(expression, str)
                                else getattr(expression, "__name__", "condition"))
                raise BrowserError(f"still false after {timeout} s: {name}"
                                   + (f" (last error: {last_error})" if last_error else "")
                                   + self.report())
            with self._cond:
                self._cond.wait(interval)

    def screenshot(self, clip=None):
        """The page as an Image (the PNG bytes in .png); clip: a dict with
        x, y, width, height in CSS pixels."""
        params = {"format": "png"}
        if clip:
            params["clip"] = dict(clip, scale=1)
        data = base64.b64decode(self.send("Page.captureScreenshot",
                                          **params)["data"])
        return decode_png(data)

    def focus(self, selector):
        """Focuses the first element matching a CSS selector."""
        return self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return false; e.focus(); return document.activeElement === e; })()")

    def key(self, name, down=True, modifiers=0):
        """One keyDown (down=True) or keyUp of a key named as in KEYS: a
        character ('a', '7', ' ') or a DOM key name ('Enter', 'ArrowUp',
        'F5', 'Shift')."""
        if name not in KEYS:
            raise BrowserError(f"no key named {name!r} (known: {sorted(KEYS)})")
        key, code, vk, text = KEYS[name]
        params = {"type": "keyDown" if down else "keyUp", "key": key,
                  "code": code, "windowsVirtualKeyCode": vk,
                  "nativeVirtualKeyCode": vk, "modifiers": modifiers}
        if down:
            if text and not modifiers & ~MODIFIER_BITS["Shift"]:
                params["text"] = params["unmodifiedText"] = \
                    text.upper() if modifiers & MODIFIER_BITS["Shift"] else text
            else:
                params["type"] = "rawKeyDown"
        if code.endswith("Left") and key in MODIFIER_BITS:
            params["location"] = 1
        self.send("Input.dispatchKeyEvent", **params)

    def press(self, name, modifiers=()):
        """Presses and releases a key, holding the named modifiers
        ('Shift', 'Control', 'Alt') around it."""
        bits = 0
        for m in modifiers:
            bits |= MODIFIER_BITS[m]
            self.key(m, True, bits)
        self.key(name, True, bits)
        self.key(name, False, bits)
        for m in reversed(list(modifiers)):
            bits &= ~MODIFIER_BITS[m]
            self.key(m, False, bits)

    def type_text(self, text):
        """Types text key by key: lower-case letters, digits, space, and
        upper-case letters (with Shift)."""
        for c in text:
            if c.isupper():
                self.press(c.lower(), modifiers=("Shift",))
            else:
                self.press(c)

    def report(self, lines=40):
        """The page's console, errors and dialogs so far (and the end of
        Chromium's own log), as text to append to a failure."""
        with self._cond:
            entries = list(self.console)
        out = ["", "-- page console, errors and dialogs "
               f"({len(entries)}, last {min(lines, len(entries))}):"]
        out += ["   " + " ".join(str(x) for x in e) for e in entries[-lines:]]
        tail = self.chromium_log(10).rstrip()
        if tail:
            out.append("-- chromium's log, last lines:")
            out += ["   " + l for l in tail.splitlines()]
        return "\n".join(out)


def _group_alive(pgid):
    """Whether a live (not zombie) process of process group pgid is left."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _is_address(host):
    import ipaddress
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def _remote_str(obj):
    if "value" in obj:
        return str(obj["value"])
    return obj.get("description") or obj.get("type", "?")


# --------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url")
    ap.add_argument("--wait", action="append", default=[], metavar="EXPR",
                    help="JS expression to wait for (repeatable, in order)")
    ap.add_argument("--timeout", type=float, default=30.0,
                    help="bound of each wait, seconds (default 30)")
    ap.add_argument("--focus", metavar="SELECTOR")
    ap.add_argument("--type", metavar="TEXT", help="text to type")
    ap.add_argument("--press", action="append", default=[], metavar="KEY")
    ap.add_argument("--eval", action="append", default=[], metavar="EXPR",
                    help="print the value of a JS expression")
    ap.add_argument("--screenshot", metavar="FILE.png")
    ap.add_argument("--size", default="1024x768", help="WIDTHxHEIGHT")
    ap.add_argument("--allow-host", action="append", default=[],
                    help="another host the page may reach")
    ap.add_argument("--verbose", action="store_true",
                    help="print the page's console as it comes")
    a = ap.parse_args(argv)
    w, h = (int(x) for x in a.size.split("x"))
    try:
        with Browser(width=w, height=h, allow_hosts=a.allow_host,
                     verbose=a.verbose) as b:
            b.open(a.url, timeout=a.timeout)
            for expr in a.wait:
                b.wait_for(expr, timeout=a.timeout)
            if a.focus and not b.focus(a.focus):
                raise BrowserError(f"cannot focus {a.focus}" + b.report())
            if a.type:
                b.type_text(a.type)
            for k in a.press:
                b.press(k)
            for expr in a.eval:
                print(json.dumps(b.evaluate(expr)))
            if a.screenshot:
                img = b.screenshot()
                img.save(a.screenshot)
                print(f"{a.screenshot}: {img.width}x{img.height}")
    except BrowserError as e:
        print(f"osvdi-cdp: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
