#!/usr/bin/env python3
# OSVDI - the host side of the desktop guest's tests (stdlib only).
# SPDX-License-Identifier: Apache-2.0
#
#   desktop-guest-host.py qmp SOCKET COMMAND [JSON-ARGUMENTS]
#       one QMP command; prints its "return" as JSON (exit 1 on "error")
#   desktop-guest-host.py check-desktop PPM WxH
#       is this screendump the guest's desktop (jwm's title and task bars
#       around a maximized xterm) at that size? prints what it measured
#   desktop-guest-host.py wait-serial FILE PID TIMEOUT REGEX
#       follows FILE (tail -F, as long as PID lives) until a line matches
#       REGEX; prints that line (without CR); exit 1 on timeout or PID gone
#   desktop-guest-host.py type SOCKET TEXT
#       types TEXT and Enter into the guest's root shell on ttyS0 (run's
#       --serial-socket); the answer is in the serial file (wait-serial)
#   desktop-guest-host.py vdagent SOCKET TIMEOUT [FIFO]
#       connects to a chardev socket behind the guest's com.redhat.spice.0
#       port and waits for the guest agent's VD_AGENT_ANNOUNCE_CAPABILITIES
#       (VDIChunkHeader, VDAgentMessage protocol 1, type 6); prints it.
#       With FIFO: then announces itself as a client (monitors config,
#       reply) and sends, for each line WxH read from FIFO, a
#       VD_AGENT_MONITORS_CONFIG of one monitor that size, as a SPICE
#       client does when its window is resized; prints the agent's answers
import json
import re
import selectors
import socket
import subprocess
import struct
import sys
import time


def qmp(path, command, arguments=None, timeout=30):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    f = s.makefile("rwb")

    def answer():
        while True:
            line = f.readline()
            if not line:
                raise SystemExit("QMP: connection closed before an answer")
            msg = json.loads(line)
            if "event" in msg:
                continue
            return msg

    answer()  # the greeting
    for cmd, args in (("qmp_capabilities", None), (command, arguments)):
        req = {"execute": cmd}
        if args:
            req["arguments"] = args
        f.write(json.dumps(req).encode() + b"\n")
        f.flush()
        msg = answer()
        if "error" in msg:
            print(f"QMP {cmd}: {msg['error']}", file=sys.stderr)
            sys.exit(1)
    s.close()
    return msg.get("return")


def read_ppm(path):
    data = open(path, "rb").read()
    # P6 <w> <h> <max>\n then RGB bytes (QEMU writes no comments).
    parts = data.split(maxsplit=4)
    if parts[0] != b"P6" or int(parts[3]) != 255:
        raise SystemExit(f"{path}: not an 8-bit P6 PPM")
    w, h = int(parts[1]), int(parts[2])
    pix = parts[4]
    if len(pix) < w * h * 3:
        raise SystemExit(f"{path}: {len(pix)} bytes of pixels, {w * h * 3} expected")
    return w, h, pix[: w * h * 3]


def check_desktop(path, mode):
    w, h, pix = read_ppm(path)
    ok = True
    want_w, want_h = (int(x) for x in mode.split("x"))
    if (w, h) != (want_w, want_h):
        print(f"FAIL: the screendump is {w}x{h}, the guest said {mode}")
        ok = False
    colours = {}
    for i in range(0, len(pix), 3):
        c = pix[i:i + 3]
        colours[c] = colours.get(c, 0) + 1
    total = w * h
    top, top_n = max(colours.items(), key=lambda kv: kv[1])
    white = colours.get(b"\xff\xff\xff", 0)
    # jwm's title bar (the first rows) and task bar (the last 28 rows):
    # gradients and text of their own, little of the xterm's white.
    def band(y0, y1):
        px = [pix[i:i + 3] for i in range(w * 3 * y0, w * 3 * y1, 3)]
        return len(set(px)), px.count(b"\xff\xff\xff") / max(len(px), 1)
    bar_n, bar_white = band(0, 20)
    tray_n, tray_white = band(h - 28, h)
    # The xterm's text: dark pixels between the two.
    body = pix[w * 3 * 26:w * 3 * (h - 30)]
    dark = sum(1 for i in range(0, len(body), 3)
               if body[i] < 96 and body[i + 1] < 96 and body[i + 2] < 96)
    print(f"screendump {w}x{h}: {len(colours)} distinct colours, most common "
          f"#{top.hex()} on {100 * top_n / total:.1f}%, white (xterm) "
          f"{100 * white / total:.1f}%; title bar {bar_n} colours, "
          f"{100 * bar_white:.0f}% white; task bar {tray_n} colours, "
          f"{100 * tray_white:.0f}% white; {dark} dark (text) pixels between")
    checks = [
        (len(colours) >= 32, "at least 32 distinct colours (not blank, not one fill)"),
        (white >= total * 0.3, "the xterm's white background on at least 30%"),
        (bar_n >= 8 and bar_white < 0.2,
         "the window manager's title bar on top (8+ colours, under 20% white)"),
        (tray_n >= 8 and tray_white < 0.2,
         "the window manager's task bar at the bottom (8+ colours, under 20% white)"),
        (dark >= 50, "text in the xterm (50+ dark pixels)"),
    ]
    for good, what in checks:
        print(("ok: " if good else "FAIL: ") + what)
        ok = ok and good
    return ok


def wait_serial(path, pid, timeout, regex):
    pat = re.compile(regex.encode())
    tail = subprocess.Popen(["tail", f"--pid={pid}", "-n", "+1", "-F", path],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    sel = selectors.DefaultSelector()
    sel.register(tail.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    buf = b""
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                print(f"wait-serial: no line matching {regex!r} in {timeout:.0f} s",
                      file=sys.stderr)
                return False
            if not sel.select(left):
                continue
            chunk = tail.stdout.read1(65536)
            if not chunk:
                print(f"wait-serial: PID {pid} ended before a line matching {regex!r}",
                      file=sys.stderr)
                return False
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                m = pat.search(line)
                if m:
                    print(line[m.start():].replace(b"\r", b"").decode(errors="replace"))
                    return True
    finally:
        tail.kill()
        tail.wait()


def type_text(path, text, timeout=30):
    # QEMU takes from the socket only what the UART can hold: bytes still
    # unread when the client goes are lost. So stay until the shell echoed
    # it all: as many bytes back as were sent, then Enter's CR LF.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    data = text.encode()
    s.sendall(data + b"\r")
    got = b""
    deadline = time.monotonic() + timeout
    while not (len(got) >= len(data) and b"\r\n" in got[len(data) - 1:]):
        left = deadline - time.monotonic()
        if left <= 0:
            raise SystemExit("type: the guest's shell did not echo the text")
        s.settimeout(left)
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            continue
        if not chunk:
            raise SystemExit("type: the serial socket closed")
        got += chunk
    s.close()


def vdagent(path, timeout, fifo=None):
    deadline = time.monotonic() + timeout
    while True:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            break
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            if time.monotonic() > deadline:
                raise SystemExit(f"vdagent: no chardev socket at {path}")
            # QEMU makes the socket as it starts: a short bounded retry.
            time.sleep(0.1)
    print("vdagent: connected to the chardev", flush=True)
    buf = b""
    # The client's announce first, asking for the agent's (request=1): the
    # agent announces itself when it opens its port, and that announce is
    # lost when it came before we connected (a socket chardev drops what
    # the guest writes while no client is there: seen in 2 of 16 runs).
    # What we send waits in the socket until the guest opens the port.
    # VD_AGENT_CAP_MONITORS_CONFIG (1), _REPLY (2).
    s.sendall(struct.pack("<II", 1, 20 + 8)
              + struct.pack("<IIQI", 1, 6, 0, 8)
              + struct.pack("<II", 1, (1 << 1) | (1 << 2)))

    def need(n):
        nonlocal buf
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SystemExit(f"vdagent: no announce from the guest agent in {timeout} s")
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise SystemExit("vdagent: the chardev closed")
            buf += chunk
        out, buf = buf[:n], buf[n:]
        return out

    def message():
        while True:
            port, size = struct.unpack("<II", need(8))
            body = need(size)
            if size < 20:
                print(f"vdagent: short chunk ({size} bytes) on port {port}")
                continue
            protocol, mtype, _opaque, msize = struct.unpack("<IIQI", body[:20])
            print(f"vdagent: chunk port {port} size {size}: message protocol {protocol} "
                  f"type {mtype} size {msize}", flush=True)
            return protocol, mtype, body[20:20 + msize]

    def send(mtype, data):
        msg = struct.pack("<IIQI", 1, mtype, 0, len(data)) + data
        s.sendall(struct.pack("<II", 1, len(msg)) + msg)  # VDP_CLIENT_PORT

    while True:
        protocol, mtype, data = message()
        if protocol == 1 and mtype == 6:
            request = struct.unpack("<I", data[:4])[0]
            caps = [struct.unpack("<I", data[i:i + 4])[0] for i in range(4, len(data) - 3, 4)]
            bits = [b for b in range(32 * len(caps)) if caps[b // 32] >> (b % 32) & 1]
            print(f"vdagent: VD_AGENT_ANNOUNCE_CAPABILITIES request={request} "
                  f"caps={' '.join('%08x' % c for c in caps)} bits={bits}", flush=True)
            break
    if fifo is None:
        return True
    with open(fifo) as f:
        for line in f:
            w, h = (int(x) for x in line.strip().split("x"))
            # VDAgentMonitorsConfig: count, flags; VDAgentMonConfig: height,
            # width, depth, x, y.
            send(2, struct.pack("<IIIIIii", 1, 0, h, w, 32, 0, 0))
            print(f"vdagent: sent VD_AGENT_MONITORS_CONFIG {w}x{h}", flush=True)
            deadline = min(deadline, time.monotonic() + 20)
            # (A second announce may come first: the spontaneous one and
            # the answer to ours.)
            while True:
                protocol, mtype, data = message()
                if mtype == 3 and len(data) >= 8:  # VD_AGENT_REPLY: type, error
                    rtype, err = struct.unpack("<II", data[:8])
                    what = {1: "VD_AGENT_SUCCESS", 2: "VD_AGENT_ERROR"}.get(err, "?")
                    print(f"vdagent: VD_AGENT_REPLY to type {rtype}: {err} ({what})",
                          flush=True)
                    break
    return True


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "qmp":
        args = json.loads(sys.argv[4]) if len(sys.argv) > 4 else None
        print(json.dumps(qmp(sys.argv[2], sys.argv[3], args)))
    elif len(sys.argv) == 4 and sys.argv[1] == "check-desktop":
        sys.exit(0 if check_desktop(sys.argv[2], sys.argv[3]) else 1)
    elif len(sys.argv) == 4 and sys.argv[1] == "type":
        type_text(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 6 and sys.argv[1] == "wait-serial":
        sys.exit(0 if wait_serial(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]),
                                  sys.argv[5]) else 1)
    elif len(sys.argv) in (4, 5) and sys.argv[1] == "vdagent":
        vdagent(sys.argv[2], float(sys.argv[3]), sys.argv[4] if len(sys.argv) == 5 else None)
    else:
        print(__doc__ or "usage: see the header", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
