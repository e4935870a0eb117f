#!/usr/bin/env python3
# OSVDI - the browser console of the all-in-one test (phase html5).
# SPDX-License-Identifier: Apache-2.0
"""Opens Nova's spice-html5 console URL in headless Chromium, as a user
does from Horizon or `openstack console url show --spice`, and checks what
the page shows.

    console-browser.py URL SCREENSHOT.png TEXT FILE WANT X,Y,RRGGBB...

The page (nova-spicehtml5proxy serves Debian's spice-html5) must show the
guest's picture in its <video> (spice-html5 plays SPICE video streams with
Media Source Extensions): each X,Y (guest framebuffer pixels) within a
lossy tolerance of RRGGBB, within a bound. Then TEXT is typed into the page
("\\n" is Enter), and the page stays open until FILE (the guest's serial
console log) contains WANT, within a bound: what the guest's shell printed
for the typed command. Prints the
seconds from opening the page to the first right picture; saves the last
screenshot. Exit 0 when all held, 1 otherwise (with what the page logged),
77 when Chromium is missing. Uses tests/browser/osvdi-cdp.py.
"""
import importlib.util
import os
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
TOLERANCE = 48           # x264/VP8 at the encoders' realtime settings
PICTURE_TIMEOUT = 120.0  # TCG guest, software encoding, two cores
KEYS_TIMEOUT = 60.0

VIDEO_JS = """(() => {
  const v = document.querySelector('#spice-screen video');
  // HAVE_CURRENT_DATA: a frame to show. Not currentTime > 0: a still
  // desktop sends a frame on change only, so playback need not advance.
  if (!v || v.readyState < 2 || !v.videoWidth)
    return null;
  const r = v.getBoundingClientRect();
  return {x: r.x, y: r.y, width: r.width, height: r.height,
          videoWidth: v.videoWidth, videoHeight: v.videoHeight};
})()"""


# What the page holds, for a failure's report.
PAGE_JS = """(() => {
  const s = document.querySelector('#spice-screen');
  if (!s) return 'no #spice-screen';
  return Array.from(s.querySelectorAll('*')).map(e => e.tagName +
    (e.tagName == 'VIDEO' ? '(readyState ' + e.readyState + ', ' + e.videoWidth + 'x' +
     e.videoHeight + ', t ' + e.currentTime + ', error ' + (e.error && e.error.message) + ')'
     : '') + ' ' + e.clientWidth + 'x' + e.clientHeight).join('; ');
})()"""


def main():
    if len(sys.argv) < 7:
        sys.exit("usage: console-browser.py URL SCREENSHOT.png TEXT FILE WANT X,Y,RRGGBB...")
    url, shot, text, log, want_text = sys.argv[1:6]
    points = []
    for p in sys.argv[6:]:
        x, y, rgb = p.split(",")
        points.append((int(x), int(y), tuple(int(rgb[i:i + 2], 16) for i in (0, 2, 4))))
    spec = importlib.util.spec_from_file_location(
        "osvdi_cdp", os.path.join(HERE, "..", "browser", "osvdi-cdp.py"))
    cdp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cdp)
    if not cdp.find_chromium():
        print("SKIP: no chromium")
        sys.exit(77)

    last = {}

    def samples(img, rect):
        out = []
        for x, y, want in points:
            px = int(rect["x"] + x * rect["width"] / rect["videoWidth"])
            py = int(rect["y"] + y * rect["height"] / rect["videoHeight"])
            seen = img.mean(px, py, 3) if 0 <= px < img.width and 0 <= py < img.height else None
            out.append(((x, y), want, seen))
        return out

    def right_picture(br):
        rect = br.evaluate(VIDEO_JS)
        if not rect:
            return False
        img = br.screenshot()
        last.update(rect=rect, img=img, samples=samples(img, rect))
        # The guest's whole framebuffer, not a scaled or cut one.
        return (rect["videoWidth"], rect["videoHeight"]) == (1024, 768) and all(
            seen is not None and all(abs(a - b) <= TOLERANCE for a, b in zip(want, seen))
            for _, want, seen in last["samples"])

    # The page's host is the one host the browser may reach (the driver's
    # network guard is fixed when the browser starts).
    host = urllib.parse.urlsplit(url).hostname
    with cdp.Browser(width=1280, height=960, allow_hosts=[host], verbose=False) as b:
        t0 = time.monotonic()
        try:
            b.open(url, timeout=60)
            b.wait_for(right_picture, timeout=PICTURE_TIMEOUT, interval=0.25,
                       what="the guest's picture in the page's <video>")
        except cdp.BrowserError as e:
            if last.get("img"):
                last["img"].save(shot)
            else:
                try:
                    b.screenshot().save(shot)
                except cdp.BrowserError:
                    pass
            try:
                print("  page: " + str(b.evaluate(PAGE_JS)))
            except cdp.BrowserError:
                pass
            print(f"FAIL: no right picture: {e}\n  video: {last.get('rect')}\n"
                  f"  points (guest x,y; expected; seen): {last.get('samples')}\n"
                  f"  last screenshot: {shot}")
            sys.exit(1)
        took = time.monotonic() - t0
        last["img"].save(shot)
        print(f"picture: {last['rect']['videoWidth']}x{last['rect']['videoHeight']} "
              "stream; " + ", ".join(f"{xy} {seen}" for xy, _, seen in last["samples"]))
        print(f"browser: {took:.2f} s from opening the page to the first right picture")
        if not b.focus("#spice-screen canvas"):
            print("FAIL: cannot focus spice-html5's canvas" + b.report())
            sys.exit(1)
        parts = text.split("\\n")
        for i, part in enumerate(parts):
            if part:
                b.type_text(part)
            if i < len(parts) - 1:
                b.press("Enter")

        def guest_printed():
            try:
                with open(log, errors="replace") as f:
                    return want_text in f.read()
            except OSError:
                return False
        end = time.monotonic() + KEYS_TIMEOUT
        while not guest_printed() and time.monotonic() < end:
            time.sleep(0.2)             # polling the guest's console log
        if not guest_printed():
            print(f"FAIL: typed {text!r} into the page; {want_text!r} not in "
                  f"{log} within {KEYS_TIMEOUT:.0f} s" + b.report())
            sys.exit(1)
        print(f"typed {text!r}: the guest printed {want_text!r}")


if __name__ == "__main__":
    main()
