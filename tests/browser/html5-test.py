#!/usr/bin/env python3
# OSVDI - a SPICE desktop in a real browser: spice-html5 in headless Chromium
# SPDX-License-Identifier: Apache-2.0
"""meson test browser-html5:  html5-test.py BUILDDIR

Our spicesink (from BUILDDIR) serves a VP8 SMPTE-bars picture; Debian's
websockify (what nova-spicehtml5proxy is built on) serves Debian's
spice-html5 page and relays its websocket to spicesink's port; Debian's
chromium, headless, driven by tests/browser/osvdi-cdp.py, opens the page.

  picture   the screenshot shows the bars' colours where the bars are
            (within a lossy tolerance), waited for with a bound; the time
            from opening the page to the first right picture is printed
  keys      keys typed into the page arrive upstream of spicesink as
            GstNavigation key events with the right names and PC scancodes
  ticket    a wrong password gets no picture: the page asks for a password
            again (its prompt after spice-server's "permission denied"),
            and spicesink never counts the client as connected

The screenshot is saved as BUILDDIR/tests/browser-html5.png.
Exits 77 (skip) naming what is missing: chromium, spice-html5, websockify,
python3-gi's GStreamer bindings.
"""

import os
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HTML5_DIR = "/usr/share/spice-html5"
PASSWORD = "osvdi-html5"
WIDTH, HEIGHT = 320, 240
# Bounds (generous: 2 shared cores, a sanitized plugin, a software browser).
PICTURE_TIMEOUT = 90
KEY_TIMEOUT = 30
REFUSAL_TIMEOUT = 30

# videotestsrc pattern=smpte: the top two thirds are seven 100% bars
# (smpte75 is the 75% one). (name, expected RGB); each is WIDTH / 7 wide.
SMPTE_BARS = [
    ("white", (255, 255, 255)), ("yellow", (255, 255, 0)),
    ("cyan", (0, 255, 255)), ("green", (0, 255, 0)),
    ("magenta", (255, 0, 255)), ("red", (255, 0, 0)),
    ("blue", (0, 0, 255)),
]
# VP8 at its default bitrate, 4:2:0 chroma, the browser's YUV→RGB: a bar's
# centre stays within this of its colour on each channel.
TOLERANCE = 48

# What is typed, and the key events spicesink must send upstream for it:
# (key name, PC scancode set 1; 0x100 marks an 0xE0-prefixed key).
TYPED_TEXT = "osvdi"
TYPED_KEYS = ["Enter", "ArrowUp"]
EXPECTED_KEYS = [("o", 0x18), ("s", 0x1f), ("v", 0x2f), ("d", 0x20),
                 ("i", 0x17), ("Return", 0x1c), ("Up", 0x148)]


SOURCE = ("videotestsrc is-live=true pattern=smpte ! "
          "video/x-raw,format=I420,width={width},height={height},"
          "framerate=30/1 ! ")
SINK = "spicesink name=sink port={port} password={password}"
VP8_PIPELINE = SOURCE + "vp8enc deadline=1 ! " + SINK
ENCBIN_PIPELINE = SOURCE + "spiceencbin name=enc ! " + SINK


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


def fail(why):
    print(f"FAIL: {why}", flush=True)
    sys.exit(1)


def sanitizer_reexec(plugin):
    """A plugin built with AddressSanitizer loads only into a process whose
    first library is ASan's runtime: run this script again with it
    preloaded (and libvirt's libtirpc after it, for the reason in
    tests/launcher/test_launcher.py asan_preload). Python itself leaks at
    exit, so leak checking is off in this process."""
    if os.environ.get("OSVDI_HTML5_REEXEC"):
        # Children (websockify, chromium) must not inherit the preload.
        os.environ.pop("LD_PRELOAD", None)
        return
    out = subprocess.run(["ldd", plugin], capture_output=True, text=True).stdout
    libs = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "=>":
            libs[parts[0]] = parts[2]
    asan = next((v for k, v in libs.items() if k.startswith("libasan.so")), None)
    if not asan:
        return
    preload = [asan] + [v for k, v in libs.items() if k.startswith("libtirpc.so")]
    env = dict(os.environ, OSVDI_HTML5_REEXEC="1", LD_PRELOAD=" ".join(preload))
    env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=0:" \
        "verify_asan_link_order=0"
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


class Pipeline:
    """videotestsrc ! vp8enc ! spicesink, in this process, recording the
    navigation key events that reach the encoder and spicesink's client
    messages."""

    def __init__(self, Gst, GstVideo, port, description):
        self.Gst, self.GstVideo = Gst, GstVideo
        self.cond = threading.Condition()
        self.keys = []          # (event type, key name, scancode)
        self.clients = []       # spicesink/client messages: (event, clients)
        self.errors = []
        self.pipeline = Gst.parse_launch(description.format(
            port=port, password=PASSWORD, width=WIDTH, height=HEIGHT))
        self.sink = self.pipeline.get_by_name("sink")
        self.sink.get_static_pad("sink").add_probe(
            Gst.PadProbeType.EVENT_UPSTREAM, self._on_upstream)
        self.stop_bus = False
        self.bus_thread = threading.Thread(target=self._bus_loop, daemon=True)

    def _on_upstream(self, pad, info):
        Gst, GstVideo = self.Gst, self.GstVideo
        event = info.get_event()
        kind = GstVideo.Navigation.event_get_type(event)
        if kind in (GstVideo.NavigationEventType.KEY_PRESS,
                    GstVideo.NavigationEventType.KEY_RELEASE):
            ok, key = GstVideo.Navigation.event_parse_key_event(event)
            ok2, scancode = event.get_structure().get_uint("scancode")
            with self.cond:
                self.keys.append(
                    ("press" if kind == GstVideo.NavigationEventType.KEY_PRESS
                     else "release", key if ok else None,
                     scancode if ok2 else None))
                self.cond.notify_all()
        return Gst.PadProbeReturn.OK

    def _bus_loop(self):
        Gst = self.Gst
        bus = self.pipeline.get_bus()
        while not self.stop_bus:
            msg = bus.timed_pop(100 * Gst.MSECOND)
            if not msg:
                continue
            s = msg.get_structure()
            with self.cond:
                if msg.type == Gst.MessageType.ERROR:
                    err, dbg = msg.parse_error()
                    self.errors.append(f"{err.message} ({dbg})")
                elif (msg.type == Gst.MessageType.ELEMENT and s
                      and s.get_name() == "spicesink/client"):
                    self.clients.append((s.get_string("event"),
                                         s.get_value("clients")))
                self.cond.notify_all()

    def start(self):
        self.bus_thread.start()
        ret = self.pipeline.set_state(self.Gst.State.PLAYING)
        if ret == self.Gst.StateChangeReturn.FAILURE:
            time.sleep(0)   # let the bus thread pick the error up
            with self.cond:
                self.cond.wait_for(lambda: self.errors, timeout=5)
            fail(f"the pipeline does not start: {self.errors}")

    def wait(self, pred, timeout):
        with self.cond:
            return self.cond.wait_for(pred, timeout=timeout)

    def stats(self):
        return self.sink.get_property("stats")

    def stats_text(self):
        return self.stats().to_string()

    def stop(self):
        self.pipeline.set_state(self.Gst.State.NULL)
        self.stop_bus = True
        self.bus_thread.join(5)


def colours_at(img, rect):
    """For each SMPTE bar: (name, expected, seen) at the bar's centre, at
    a third of the picture's height; rect: the <video>'s page rectangle."""
    out = []
    bar_w = rect["width"] / len(SMPTE_BARS)
    y = int(rect["y"] + rect["height"] / 3)
    for i, (name, want) in enumerate(SMPTE_BARS):
        x = int(rect["x"] + bar_w * (i + 0.5))
        if not (0 <= x < img.width and 0 <= y < img.height):
            out.append((name, want, None))
            continue
        out.append((name, want, img.mean(x, y, 3)))
    return out


def colours_ok(samples):
    return all(seen is not None and
               all(abs(a - b) <= TOLERANCE for a, b in zip(want, seen))
               for _, want, seen in samples)


VIDEO_RECT_JS = """(() => {
  const v = document.querySelector('#spice-screen video');
  if (!v || v.readyState < 2 || !(v.currentTime > 0) || !v.videoWidth)
    return null;
  const r = v.getBoundingClientRect();
  return {x: r.x, y: r.y, width: r.width, height: r.height,
          videoWidth: v.videoWidth, videoHeight: v.videoHeight};
})()"""


def page_url(ws_port, password):
    return (f"http://127.0.0.1:{ws_port}/spice_auto.html?host=127.0.0.1"
            f"&port={ws_port}&password={password}")


def check_picture(cdp, pipe, ws_port, name, shot_path):
    """Opens the page, waits for the right picture; returns (Browser, the
    seconds from open to the first right picture). The caller closes the
    Browser."""
    b = cdp.Browser(width=640, height=480, verbose=False)
    t0 = time.monotonic()
    try:
        b.open(page_url(ws_port, PASSWORD), timeout=60)
    except cdp.BrowserError:
        b.close()
        raise
    last = {"samples": None, "rect": None}

    def right_picture(br):
        rect = br.evaluate(VIDEO_RECT_JS)
        if not rect:
            return False
        img = br.screenshot()
        last.update(samples=colours_at(img, rect), rect=rect, img=img)
        return colours_ok(last["samples"])

    try:
        b.wait_for(right_picture, timeout=PICTURE_TIMEOUT, interval=0.2,
                   what="the SMPTE bars in the page's <video>")
    except cdp.BrowserError as e:
        if last.get("img"):
            last["img"].save(shot_path)
        b.close()
        with pipe.cond:
            info = f"spicesink clients: {pipe.clients}; errors: {pipe.errors}"
        fail(f"{name}: no right picture: {e}\n  video rect: {last['rect']}\n"
             f"  bars (name, expected, seen): {last['samples']}\n  {info}\n"
             f"  stats: {pipe.stats_text()}\n  (last screenshot: {shot_path})")
    took = time.monotonic() - t0
    last["img"].save(shot_path)
    print(f"ok picture ({name}): {last['rect']['videoWidth']}x"
          f"{last['rect']['videoHeight']} stream, bars "
          + ", ".join(f"{n} {s}" for n, _, s in last["samples"]))
    print(f"info: {name}: {took:.2f} s from opening the page to the first "
          f"right picture")
    return b, took


def check_keys(b, pipe):
    if not b.focus("#spice-screen canvas"):
        fail("keys: cannot focus spice-html5's canvas" + b.report())
    with pipe.cond:
        pipe.keys.clear()
    b.type_text(TYPED_TEXT)
    for k in TYPED_KEYS:
        b.press(k)
    want = [(kind, name, code) for name, code in EXPECTED_KEYS
            for kind in ("press", "release")]
    got_all = pipe.wait(lambda: len(pipe.keys) >= len(want), KEY_TIMEOUT)
    with pipe.cond:
        got = list(pipe.keys)
    if not got_all or got[:len(want)] != want:
        fail(f"keys: typed {TYPED_TEXT!r} + {TYPED_KEYS}; upstream of "
             f"spicesink came {got}, expected {want}" + b.report())
    print(f"ok keys: {len(want)} navigation key events, "
          + " ".join(f"{n}=0x{c:03x}" for n, c in EXPECTED_KEYS))


def check_refusal(cdp, pipe, ws_port):
    """A wrong password: the page asks again, no picture, and spicesink
    never counts a client."""
    with pipe.cond:
        before = len(pipe.clients)
    b = cdp.Browser(width=640, height=480)
    try:
        b.open(page_url(ws_port, "not-" + PASSWORD), timeout=60)
        b.wait_for(lambda br: br.dialogs, timeout=REFUSAL_TIMEOUT,
                   what="spice-html5's password prompt after the refusal")
        kind, message = b.dialogs[0]
        if kind != "prompt" or message != "Password":
            fail(f"ticket: the page showed a {kind} {message!r}, not the "
                 "password prompt" + b.report())
        video = b.evaluate("document.querySelectorAll('#spice-screen video, "
                           "#spice-screen canvas').length")
        with pipe.cond:
            after = pipe.clients[before:]
        clients = pipe.stats().get_value("clients")
        if video or after or clients:
            fail(f"ticket: a wrong password got in: {video} video/canvas "
                 f"elements, spicesink client messages {after}, "
                 f"{clients} clients" + b.report())
        print(f"ok ticket: a wrong password gets a {kind} {message!r} "
              f"({len(b.dialogs)} so far), no picture, no spicesink client")
    finally:
        b.close()


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    build = os.path.abspath(sys.argv[1])
    plugin = os.path.join(build, "gst", "libgstosvdi.so")
    sys.path.insert(0, HERE)
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "osvdi_cdp", os.path.join(HERE, "osvdi-cdp.py"))
    cdp = importlib.util.module_from_spec(spec)
    sys.modules["osvdi_cdp"] = cdp
    spec.loader.exec_module(cdp)

    missing = []
    if not cdp.find_chromium():
        missing.append("chromium (Debian package chromium)")
    if not os.path.exists(os.path.join(HTML5_DIR, "spice_auto.html")):
        missing.append(f"{HTML5_DIR}/spice_auto.html (package spice-html5)")
    websockify = "/usr/bin/websockify"
    if not os.access(websockify, os.X_OK):
        missing.append("websockify (package websockify)")
    if not os.path.exists(plugin):
        missing.append(plugin)
    if missing:
        skip("missing " + ", ".join(missing))
    sanitizer_reexec(plugin)
    try:
        import gi
        gi.require_version("Gst", "1.0")
        gi.require_version("GstVideo", "1.0")
        from gi.repository import Gst, GstVideo
    except (ImportError, ValueError) as e:
        skip(f"python3-gi with GStreamer's bindings (python3-gi, "
             f"gir1.2-gst-plugins-base-1.0): {e}")
    Gst.init(None)
    if not Gst.ElementFactory.find("spicesink"):
        fail(f"spicesink not found (GST_PLUGIN_PATH_1_0="
             f"{os.environ.get('GST_PLUGIN_PATH_1_0')})")
    shot = os.path.join(build, "tests", "browser-html5.png")
    os.makedirs(os.path.dirname(shot), exist_ok=True)

    def vp8_checks(pipe, ws_port):
        b, took = check_picture(cdp, pipe, ws_port, "vp8enc", shot)
        try:
            check_keys(b, pipe)
        finally:
            b.close()
        if not pipe.wait(lambda: pipe.stats().get_value("clients") == 0, 30):
            fail(f"the browser's client is still connected after it closed: "
                 f"{pipe.stats_text()}")
        check_refusal(cdp, pipe, ws_port)
        return took

    def encbin_checks(pipe, ws_port):
        enc = pipe.pipeline.get_by_name("enc")
        if enc.get_property("codec") != "h264":
            fail(f"spiceencbin started on {enc.get_property('codec')}, not h264")
        b, took = check_picture(cdp, pipe, ws_port, "spiceencbin",
                                shot.replace(".png", "-spiceencbin.png"))
        codec = pipe.stats().get_value("codec")
        switches = enc.get_property("switches")
        b.close()
        if codec != "vp8" or switches < 1:
            fail(f"the browser's picture came without a switch to VP8: sink "
                 f"codec {codec}, {switches} switches")
        # The last client gone, the bin goes back to its first codec.
        if not pipe.wait(lambda: enc.get_property("codec") == "h264", 30):
            fail(f"spiceencbin stayed on {enc.get_property('codec')} after "
                 "the browser left")
        return took

    times = {"vp8enc": serve(Gst, GstVideo, websockify, VP8_PIPELINE,
                             vp8_checks)}
    # The case #13 cares about: an H.264-first pipeline whose spiceencbin
    # switches to VP8 for this client (spice-html5 decodes VP8 and MJPEG).
    if not Gst.ElementFactory.find("spiceencbin"):
        fail("spiceencbin not found (built with spicesink)")
    times["spiceencbin"] = serve(Gst, GstVideo, websockify,
                                 ENCBIN_PIPELINE, encbin_checks)
    print(f"screenshot: {shot}")
    print("info: time from opening the page to the first right picture: "
          + ", ".join(f"{k} {v:.2f} s" for k, v in times.items()))
    print("browser-html5: all checks passed")


def serve(Gst, GstVideo, websockify, description, checks):
    """Runs the pipeline and websockify in front of it, then
    checks(pipeline, websocket port); returns what checks returns."""
    spice_port, ws_port = free_port(), free_port()
    pipe = Pipeline(Gst, GstVideo, spice_port, description)
    pipe.start()
    ws = subprocess.Popen(
        [websockify, "--web", HTML5_DIR, f"127.0.0.1:{ws_port}",
         f"127.0.0.1:{spice_port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    cdp_error = sys.modules["osvdi_cdp"].BrowserError
    try:
        if not wait_port(ws_port, ws):
            fail(f"websockify does not listen on {ws_port}")
        return checks(pipe, ws_port)
    except cdp_error as e:
        fail(str(e))
    finally:
        ws.terminate()
        try:
            out, _ = ws.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            ws.kill()
            out, _ = ws.communicate()
        pipe.stop()
        if os.environ.get("OSVDI_HTML5_VERBOSE"):
            print("websockify:", out)


if __name__ == "__main__":
    main()
