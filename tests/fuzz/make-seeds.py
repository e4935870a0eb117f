#!/usr/bin/env python3
# OSVDI - writes the hand-made seed inputs of tests/fuzz/corpus/<target>/
# SPDX-License-Identifier: Apache-2.0
#
#   tests/fuzz/make-seeds.py       (re)writes the seed-* files
#
# Seeds only: crash reproducers (crash-*) are kept beside them by hand, with
# the fix they go with. Every seed is made here from the protocol or file
# format, none copied from elsewhere.
import os
import struct
import sys

here = os.path.dirname(os.path.abspath(__file__))
corpus = os.path.join(here, "corpus")


def put(target, name, data):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def stream_msg(mtype, payload=b""):
    # StreamDevHeader: protocol 1, padding, type, size (little-endian).
    return struct.pack("<BBHI", 1, 0, mtype, len(payload)) + payload


def stream_seeds():
    # types: 1 format, 2 data, 3 capabilities, 4 start/stop, 5 cursor set,
    # 6 cursor move, 7 notify error; tail: the round trip's fields.
    tail = struct.pack("<IIBiiHHHHB", 1920, 1080, 3, 100, -5, 64, 64, 3, 4, 0)
    caps = stream_msg(3, b"\x01")
    start = stream_msg(4, bytes([3, 3, 2, 1]))
    stop = stream_msg(4, b"\x00")
    err = stream_msg(7, struct.pack("<I", 1) + b"no codec\x00")
    put("stream", "caps-start", b"\x00" + caps + start + tail)
    put("stream", "start-stop-pieces", b"\x03" + start + stop + start + tail)
    put("stream", "notify-error", b"\x07" + caps + err + tail)
    put("stream", "bad-version", b"\x01" + b"\x02" + caps[1:] + start)
    put("stream", "too-large", b"\x05" + struct.pack("<BBHI", 1, 0, 2, 5000))


def keys_seeds():
    put("keys", "typing", bytes([0x1e, 0x9e, 0x30, 0xb0, 0x2a, 0x1e, 0x9e, 0xaa,
                                 0x1c, 0x9c]))
    put("keys", "extended", bytes([0xe0, 0x48, 0xe0, 0xc8, 0xe0, 0x1d, 0x2e,
                                   0xe0, 0x9d, 0xe0, 0xe0, 0x53]))
    put("keys", "name-Return", "Return")
    put("keys", "name-Super_L", "Super_L")
    put("keys", "scancodes", struct.pack("<IIII", 0x148, 0x1c, 0x17f, 0x200))


def config_seeds():
    put("launcher-config", "shipped",
        open(os.path.join(here, "..", "..", "launcher", "launcher.conf")).read())
    put("launcher-config", "empty", "")
    put("launcher-config", "tls", "[spice]\naddress=192.0.2.10\nport-min=5900\n"
        "port-max=5909\ntls-port-min=6900\ntls-port-max=6909\n"
        "x509-dir=/etc/pki/osvdi\nticket-lifetime=600\n")
    put("launcher-config", "proxy", "[spice]\nconsole=proxy\naddress=198.18.0.2\n"
        "[restart]\nbackoff-initial-ms=10\nbackoff-max-ms=100\nmax-restarts=0\n")
    put("launcher-config", "proxy-any", "[spice]\nconsole=proxy\naddress=::\n")
    put("launcher-config", "bad-range", "[spice]\nport-min=6000\nport-max=5000\n")
    put("launcher-config", "overlap", "[spice]\ntls-port-min=5950\n"
        "tls-port-max=6000\nx509-dir=/x\n")
    put("launcher-config", "not-a-number", "[restart]\nmax-restarts=many\n")
    put("launcher-config", "garbage", "[launcher\nconnect\n=\x01\xff")
    flavors = os.path.join(here, "..", "..", "launcher", "flavors.d")
    for f in sorted(os.listdir(flavors)):
        put("flavor", f, open(os.path.join(flavors, f)).read())
    put("flavor", "mdev", "[flavor]\npipeline=  vfiodmabufsrc mdev=${MDEV_UUID} "
        "! fakesink name=${DOMAIN_NAME}-${INSTANCE_NAME} ${FLAVOR}  \n")
    put("flavor", "unknown-var", "[flavor]\npipeline=x ${NOPE} y\n")
    put("flavor", "unterminated", "[flavor]\npipeline=x ${SPICE_PORT\n")
    put("flavor", "no-pipeline", "[flavor]\nname=x\n")
    put("flavor", "empty-pipeline", "[flavor]\npipeline=   \n")


def template_seeds():
    # First byte: which variable gets a hostile value.
    put("template", "default", b"\x08vfiodmabufsrc qemu-display-fd=${QEMU_DISPLAY_FD}"
        b" ! spicesink address=${SPICE_ADDRESS} port=${SPICE_PORT}")
    put("template", "all", b"\x00" + b" ".join(b"${%s}" % n for n in (
        b"MDEV_UUID", b"DOMAIN_UUID", b"DOMAIN_NAME", b"INSTANCE_NAME",
        b"FLAVOR", b"OWNER_USER", b"OWNER_PROJECT", b"SPICE_ADDRESS",
        b"SPICE_PORT", b"SPICE_TLS_PORT", b"SPICE_X509_DIR",
        b"TICKET_LIFETIME", b"QEMU_DISPLAY_FD")))
    put("template", "dollars", b"\x03$ ${FLAVOR}$ {x} $${DOMAIN_NAME}}")
    put("template", "dollar-empty", b"\x03$${SPICE_PORT}{x")
    put("template", "unterminated", b"\x01a ${FLAVOR")
    put("template", "unknown", b"\x01${}${flavor}")
    put("template", "plain", b"\x02videotestsrc ! fakesink")


def domain_seeds():
    nova = ("<metadata><nova:instance xmlns:nova='http://openstack.org/xmlns/"
            "libvirt/nova/1.1'><nova:name>desk-1</nova:name>"
            "<nova:flavor name='%s'><nova:memory>4096</nova:memory>"
            "</nova:flavor><nova:owner><nova:user uuid='u-1'>alice</nova:user>"
            "<nova:project uuid='p-1'>vdi</nova:project></nova:owner>"
            "</nova:instance></metadata>")
    mdev = ("<hostdev mode='subsystem' type='mdev' model='vfio-pci' "
            "display='on'><source><address "
            "uuid='83b8f4f2-509f-382f-3c1e-e6bfe0fa1001'/></source></hostdev>")
    head = ("<domain type='kvm'><name>instance-00000001</name>"
            "<uuid>c0ffee00-0000-4000-8000-000000000001</uuid>")
    put("domain", "nova-mdev", head + nova % "vdi.intel" + "<devices>" + mdev
        + "<graphics type='dbus' p2p='yes'/></devices></domain>")
    put("domain", "dbus-only", head + "<devices><graphics type='dbus' "
        "p2p='yes'/><graphics type='spice'/></devices></domain>")
    put("domain", "flavor-escape", head + nova % "../../etc/passwd" +
        "<devices/></domain>")
    put("domain", "flavor-hostile", head + nova % "a b ! filesink location=x"
        + "<devices/></domain>")
    put("domain", "no-uuid", "<domain><name>x</name></domain>")
    put("domain", "not-domain", "<network><name>default</name></network>")
    put("domain", "entities", "<?xml version='1.0'?><domain><name>a&amp;b"
        "&#10;c</name><uuid> u </uuid></domain>")


def navigation_seeds():
    # kind, extra, two coordinates (a byte < 200: int16 + fraction), fields.
    def coord(v):
        return b"\x00" + struct.pack("<h", v)
    key = lambda k, name, extra=0: bytes([k, extra]) + coord(0) + coord(0) + \
        struct.pack("<H", len(name)) + name
    put("navigation", "keys", key(0, b"a") + key(1, b"a") + key(0, b"Up")
        + key(0, b"Return", 8) + struct.pack("<I", 0x11c) + key(0, b"nokey"))
    put("navigation", "mouse", bytes([2, 0]) + coord(100) + coord(50)
        + bytes([2, 32]) + coord(10) + coord(10) + struct.pack("<ii", 5, -5)
        + bytes([3, 0]) + coord(1) + coord(1) + b"\x01"
        + bytes([4, 0]) + coord(1) + coord(1) + b"\x03"
        + bytes([5, 0]) + coord(1) + coord(1) + coord(0) + coord(1))
    put("navigation", "hand-made", bytes([6, 1 | 2 | 4 | 8 | 16]) + coord(3)
        + coord(4) + struct.pack("<I", 0x48) + bytes([6, 64]) + coord(0)
        + coord(0))


targets = {"navigation": navigation_seeds, "domain": domain_seeds, "stream": stream_seeds, "keys": keys_seeds,
           "config": config_seeds, "template": template_seeds}
for name, fn in targets.items():
    if len(sys.argv) < 2 or name in sys.argv[1:]:
        fn()
