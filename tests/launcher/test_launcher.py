#!/usr/bin/python3
# OSVDI - osvdi-launcher against a real libvirtd
# SPDX-License-Identifier: Apache-2.0
#
# Starts a private libvirtd (own config, socket and pid file), connects the
# launcher to its test driver over the real socket
# (test+unix:///default?socket=...), and drives it with domains created and
# destroyed through the libvirt API. The test driver runs no device, so the
# test flavors' pipelines use videotestsrc instead of vfiodmabufsrc (the
# capture element has its own tests); everything else -- events, XML, Nova
# metadata, flavor files, child processes, ports, tickets, .vv files, domain
# metadata, restarts -- is the real thing.
#
# Usage: test_launcher.py BUILD_DIR   (exit 77 = skipped, with the reason)

import configparser
import glob
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

try:
    import libvirt
except ImportError:
    libvirt = None
try:
    import yaml
except ImportError:
    yaml = None

BUILD = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else None
NS = "https://opendev.org/osvdi/xmlns/libvirt/1.0"
PORT_MIN, PORT_MAX = 25900, 25999

TEST_PIPELINE = ("videotestsrc is-live=true name={marker}-${{DOMAIN_NAME}} "
                 "! video/x-raw,width=64,height=48,framerate=5/1 "
                 "! x264enc tune=zerolatency speed-preset=ultrafast "
                 "! h264parse ! spicesink address=${{SPICE_ADDRESS}} "
                 "port=${{SPICE_PORT}} password-lifetime=${{TICKET_LIFETIME}}")

FLAVORS = {
    "default.conf": "[flavor]\npipeline=" + TEST_PIPELINE.format(marker="default") + "\n",
    "vdi.small.conf": "[flavor]\npipeline=" + TEST_PIPELINE.format(marker="small") + "\n",
    # Malformed: a variable the launcher does not know.
    "vdi.broken.conf": "[flavor]\npipeline=videotestsrc ! spicesink port=${NOPE}\n",
    # The production provider: QEMU's D-Bus display (QemuVmTest).
    "vdi.qemu.conf": "[flavor]\npipeline=vfiodmabufsrc "
                     "qemu-display-fd=${QEMU_DISPLAY_FD} ! videoconvert "
                     "! x264enc tune=zerolatency speed-preset=ultrafast "
                     "key-int-max=600 ! h264parse ! spicesink "
                     "address=${SPICE_ADDRESS} port=${SPICE_PORT} "
                     "password-lifetime=${TICKET_LIFETIME}\n",
    # TLS beside the plain port, and TLS only (TlsPortTest).
    "vdi.tls.conf": "[flavor]\npipeline=" + TEST_PIPELINE.format(marker="tls")
                    + " tls-port=${SPICE_TLS_PORT} x509-dir=${SPICE_X509_DIR}\n",
    "vdi.tlsonly.conf": "[flavor]\npipeline=" + TEST_PIPELINE.format(marker="tlsonly")
                        .replace("port=${SPICE_PORT}", "port=0")
                        + " tls-port=${SPICE_TLS_PORT} x509-dir=${SPICE_X509_DIR}\n",
    # Parses as a template, fails in the child every time.
    "vdi.failing.conf": "[flavor]\npipeline=videotestsrc ! nosuchelement ! "
                        "spicesink port=${SPICE_PORT}\n",
}


def wait_until(pred, timeout=20.0, step=0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def pipeline_children():
    """{domain uuid: [(pid, ppid, cmdline)]} of every osvdi-pipeline."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if not argv or not argv[0].endswith(b"osvdi-pipeline") or fields[0] == "Z":
            continue
        args = [a.decode() for a in argv if a]
        dom = args[args.index("--domain") + 1] if "--domain" in args else None
        out.setdefault(dom, []).append((int(pid), int(fields[1]), args))
    return out


def asan_preload(exe):
    """Sanitizer builds only: ASan's xdr interceptors look up libtirpc's
    functions when the process starts; libvirt's libtirpc arriving later with
    the plugin (dlopen) leaves them null and the first libvirt call jumps to
    address 0. Preloading it (after ASan's runtime, which must come first)
    avoids that. Nothing of this applies to a normal build."""
    libs = {}
    for path in (exe, f"{BUILD}/gst/libgstosvdi.so"):
        out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[1] == "=>":
                libs[parts[0]] = parts[2]
    asan = next((v for k, v in libs.items() if k.startswith("libasan.so")), None)
    tirpc = next((v for k, v in libs.items() if k.startswith("libtirpc.so")), None)
    return {"LD_PRELOAD": f"{asan} {tirpc}"} if asan and tirpc else {}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def tcp_listeners(port):
    """The local addresses (hex, as the kernel writes them) of the sockets
    listening on @port, from /proc/net/tcp and tcp6."""
    found = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            addr, _, hexport = local.rpartition(":")
            if state == "0A" and int(hexport, 16) == port:   # 0A: LISTEN
                found.append(addr)
    return found


def spice_probe(port, password=None, seconds=60):
    """osvdi-spice-probe (spice-client-glib) on 127.0.0.1:@port: succeeds
    once the test flavors' videotestsrc picture (SMPTE bars: white at the
    top left, blue at the top right) is decoded."""
    args = [f"{BUILD}/tests/osvdi-spice-probe", "--port", str(port),
            "--seconds", str(seconds), "2,2,ffffff", "60,2,0000ff"]
    if password is not None:
        args[3:3] = ["--password", password]
    return subprocess.run(args, capture_output=True, text=True,
                          timeout=seconds + 60)


def domain_xml(name, dom_uuid, flavor=None, mdev=True):
    meta = ""
    if flavor is not None:
        meta = f"""<metadata>
    <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
      <nova:name>inst-{name}</nova:name>
      <nova:flavor name="{flavor}"/>
      <nova:owner><nova:user uuid="u-{name}">alice</nova:user>
        <nova:project uuid="p-{name}">demo</nova:project></nova:owner>
    </nova:instance>
  </metadata>"""
    hostdev = ""
    if mdev:
        hostdev = f"""<hostdev mode='subsystem' type='mdev' model='vfio-pci' display='on'>
      <source><address uuid='{uuid.uuid4()}'/></source>
    </hostdev>"""
    return f"""<domain type='test'>
  <name>{name}</name><uuid>{dom_uuid}</uuid>
  <memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os>
  {meta}
  <devices>{hostdev}</devices>
</domain>"""


def qemu_domain_xml(name, dom_uuid, flavor="vdi.qemu", dbus=True, vnc=False):
    """A real TCG VM: SeaBIOS on a VGA card, waiting at its boot prompt."""
    graphics = "<graphics type='dbus' p2p='yes'/>" if dbus else ""
    if vnc:
        # Another display first: the D-Bus one is then graphics index 1.
        graphics = "<graphics type='vnc' autoport='yes' listen='127.0.0.1'/>" + graphics
    return f"""<domain type='qemu'>
  <name>{name}</name><uuid>{dom_uuid}</uuid>
  <memory unit='MiB'>64</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type>
    <bootmenu enable='yes' timeout='60000'/></os>
  <metadata>
    <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
      <nova:name>inst-{name}</nova:name><nova:flavor name="{flavor}"/>
    </nova:instance>
  </metadata>
  <devices>{graphics}<video><model type='vga'/></video></devices>
</domain>"""


class Libvirtd:
    def __init__(self, tmp, driver="test"):
        self.dir = os.path.join(tmp, "libvirtd")
        self.sock_dir = os.path.join(self.dir, "sock")
        os.makedirs(self.sock_dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "libvirtd.conf")
        with open(self.conf, "w") as f:
            f.write(f'unix_sock_dir = "{self.sock_dir}"\n'
                    'auth_unix_ro = "none"\nauth_unix_rw = "none"\n')
        self.driver = driver
        if driver == "qemu":
            self.uri = f"qemu+unix:///system?socket={self.sock_dir}/libvirt-sock"
        else:
            self.uri = f"test+unix:///default?socket={self.sock_dir}/libvirt-sock"
        self.proc = None

    def start(self):
        log = open(os.path.join(self.dir, "libvirtd.log"), "ab")
        if self.driver == "qemu":
            self._ensure_virtlogd()
        cmd = ["libvirtd", "--config", self.conf, "--pid-file",
               os.path.join(self.dir, "libvirtd.pid")]
        if self.driver == "qemu" and self._hide_kvm_works():
            # The VMs run under TCG. Where /dev/kvm is root's alone, QEMU's
            # probe (as root) finds KVM but libvirt's check as the qemu user
            # does not, so libvirt throws its capability cache away at every
            # look-up and re-probes QEMU: ~40 s per domain start. In a mount
            # namespace of its own, this libvirtd (and its QEMUs) see no KVM.
            cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                   'mount --bind /dev/null /dev/kvm && exec "$@"', "sh"] + cmd
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log)
        log.close()
        sock = os.path.join(self.sock_dir, "libvirt-sock")
        if not wait_until(lambda: os.path.exists(sock), 30):
            raise RuntimeError("libvirtd did not create its socket")
        # The socket exists a moment before the test driver answers.
        wait_until(lambda: self._answers(), 30)

    @staticmethod
    def _hide_kvm_works():
        if not os.path.exists("/dev/kvm") or not shutil.which("unshare"):
            return False
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh",
                               "-c", "mount --bind /dev/null /dev/kvm"],
                              capture_output=True).returncode == 0

    VIRTLOGD_SOCK = "/run/libvirt/virtlogd-sock"

    @staticmethod
    def _virtlogd_answers():
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(Libvirtd.VIRTLOGD_SOCK)
                return True
            except OSError:
                return False

    def _ensure_virtlogd(self):
        # The QEMU driver logs a domain's output through the system's
        # virtlogd, at a fixed path. A socket file can outlive its daemon
        # (seen: a fresh machine where apt's virtlogd had gone), so ask it;
        # when nobody answers, run our own and stop it afterwards.
        self.virtlogd = None
        if self._virtlogd_answers():
            return
        os.makedirs("/run/libvirt", exist_ok=True)
        for stale in (self.VIRTLOGD_SOCK, "/run/libvirt/virtlogd-admin-sock"):
            if os.path.exists(stale):
                os.unlink(stale)
        log = open(os.path.join(self.dir, "virtlogd.log"), "ab")
        self.virtlogd = subprocess.Popen(["virtlogd"], stdout=log,
                                         stderr=log)
        log.close()
        if not wait_until(self._virtlogd_answers, 30):
            raise RuntimeError("virtlogd did not answer on "
                               f"{self.VIRTLOGD_SOCK}; see {self.dir}/virtlogd.log")

    def _answers(self):
        try:
            libvirt.open(self.uri).close()
            return True
        except libvirt.libvirtError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        virtlogd = getattr(self, "virtlogd", None)
        if virtlogd and virtlogd.poll() is None:
            virtlogd.terminate()
            try:
                virtlogd.wait(15)
            except subprocess.TimeoutExpired:
                virtlogd.kill()
                virtlogd.wait()
        self.virtlogd = None


DIRECT_SPICE_CONF = "address=127.0.0.1\nticket-lifetime=3600\n"


class Launcher:
    def __init__(self, tmp, uri, env, spice_conf=DIRECT_SPICE_CONF):
        self.tmp = tmp
        self.uri = uri
        self.env = env
        self.state = os.path.join(tmp, "state")
        self.flavors = os.path.join(tmp, "flavors.d")
        self.conf = os.path.join(tmp, "launcher.conf")
        self.log_path = os.path.join(tmp, "launcher.log")
        os.makedirs(self.flavors, exist_ok=True)
        for name, text in FLAVORS.items():
            with open(os.path.join(self.flavors, name), "w") as f:
                f.write(text)
        with open(self.conf, "w") as f:
            f.write(f"""[launcher]
connect={uri}
flavors-dir={self.flavors}
state-dir={self.state}
runner={BUILD}/launcher/osvdi-pipeline
[spice]
{spice_conf}port-min={PORT_MIN}
port-max={PORT_MAX}
[restart]
backoff-initial-ms=300
backoff-max-ms=1000
max-restarts=3
stable-seconds=4
stop-timeout-ms=10000
""")
        self.proc = None

    def start(self):
        before = self.text().count("reconciled")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [f"{BUILD}/launcher/osvdi-launcher", "--config", self.conf],
                stdout=log, stderr=log, env=self.env)
        if not wait_until(lambda: self.text().count("reconciled") > before, 30):
            raise RuntimeError("launcher did not reconcile:\n" + self.text())

    def text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def vv(self, dom_uuid):
        path = os.path.join(self.state, dom_uuid + ".vv")
        if not os.path.exists(path):
            return None
        cp = configparser.ConfigParser(interpolation=None)
        cp.read(path)
        return path, cp["virt-viewer"]


class LauncherTest(unittest.TestCase):
    TMP_PREFIX = "osvdi-launcher-test-"
    DRIVER = "test"             # libvirt's test driver: no VMs run

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix=cls.TMP_PREFIX)
        cls.libvirtd = Libvirtd(cls.tmp, driver=cls.DRIVER)
        cls.libvirtd.start()
        env = dict(os.environ)
        env["GST_REGISTRY_1_0"] = os.path.join(cls.tmp, "registry.bin")
        # Debug lines: how many references each closed connection kept.
        env["G_MESSAGES_DEBUG"] = "osvdi-launcher"
        cls.launcher = Launcher(cls.tmp, cls.libvirtd.uri, env,
                                getattr(cls, "SPICE_CONF", DIRECT_SPICE_CONF))
        cls.launcher.start()
        cls.conn = libvirt.open(cls.libvirtd.uri)

    @classmethod
    def tearDownClass(cls):
        if cls.launcher.proc and cls.launcher.proc.poll() is None:
            cls.launcher.proc.kill()
            cls.launcher.proc.wait()
        try:
            cls.conn.close()
        except libvirt.libvirtError:
            pass
        cls.libvirtd.stop()
        for pids in pipeline_children().values():
            for pid, _, _ in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if os.environ.get("OSVDI_KEEP_TMP"):
            print("kept", cls.tmp)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def tearDown(self):
        if self._outcome.result.errors or self._outcome.result.failures:
            sys.stderr.write("---- launcher log ----\n" + self.launcher.text()[-6000:])

    # helpers ---------------------------------------------------------------

    def start_vm(self, flavor="vdi.small", mdev=True, conn=None):
        name = "vm-" + uuid.uuid4().hex[:8]
        dom_uuid = str(uuid.uuid4())
        (conn or self.conn).createXML(domain_xml(name, dom_uuid, flavor, mdev), 0)
        return name, dom_uuid

    def stop_vm(self, dom_uuid, conn=None):
        (conn or self.conn).lookupByUUIDString(dom_uuid).destroy()

    def child(self, dom_uuid, timeout=20):
        kids = wait_until(lambda: pipeline_children().get(dom_uuid), timeout)
        self.assertTrue(kids, f"no pipeline child for {dom_uuid}")
        self.assertEqual(len(kids), 1, f"more than one child: {kids}")
        return kids[0]

    def no_child(self, dom_uuid, timeout=20):
        gone = wait_until(lambda: dom_uuid not in pipeline_children(), timeout)
        self.assertTrue(gone, f"pipeline child for {dom_uuid} still runs")

    def session(self, dom_uuid):
        pid, ppid, args = self.child(dom_uuid)
        vv = wait_until(lambda: self.launcher.vv(dom_uuid), 10)
        self.assertTrue(vv, "no .vv file")
        port = int(vv[1]["port"])
        self.assertTrue(wait_until(lambda: port_open(port), 20),
                        f"nothing listens on the session's port {port}")
        return pid, port, vv

    # tests -----------------------------------------------------------------

    def test_01_mdev_vm_gets_one_pipeline(self):
        name, dom_uuid = self.start_vm("vdi.small")
        pid, port, (path, vv) = self.session(dom_uuid)
        _, ppid, args = self.child(dom_uuid)
        self.assertEqual(ppid, self.launcher.proc.pid)
        pipeline = args[-1]
        self.assertIn(f"small-{name}", pipeline, "not the flavor's pipeline")
        self.assertIn(f"port={port}", pipeline)
        self.assertTrue(PORT_MIN <= port <= PORT_MAX)
        # The .vv file: operator-only, with everything a client needs.
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertEqual(vv["type"], "spice")
        self.assertEqual(vv["host"], "127.0.0.1")
        self.assertEqual(vv["title"], f"inst-{name}")
        self.assertGreaterEqual(len(vv["password"]), 20)
        # The domain's metadata: the connection, not the ticket.
        meta = wait_until(lambda: self._metadata(dom_uuid), 10)
        self.assertIn(f'port="{port}"', meta)
        self.assertIn("ticket-expiry=", meta)
        self.assertNotIn(vv["password"], meta)
        self.assertIn("pipeline playing", wait_until(
            lambda: self.launcher.text() if f"{dom_uuid}: pipeline playing"
            in self.launcher.text() else None, 20) or "")

        self.stop_vm(dom_uuid)
        self.no_child(dom_uuid)
        self.assertTrue(wait_until(lambda: not os.path.exists(path), 10),
                        ".vv file left behind")
        self.assertTrue(wait_until(lambda: not port_open(port), 10))

    def _metadata(self, dom_uuid):
        try:
            return self.conn.lookupByUUIDString(dom_uuid).metadata(
                libvirt.VIR_DOMAIN_METADATA_ELEMENT, NS, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        except libvirt.libvirtError:
            return None

    def test_02_vm_without_mdev_gets_none(self):
        name, dom_uuid = self.start_vm("vdi.small", mdev=False)
        self.assertTrue(wait_until(lambda: f"{dom_uuid}: no pipeline: it has neither a mediated"
                                   in self.launcher.text(), 10))
        # The skip is decided where the spawn would be: no waiting needed.
        self.assertNotIn(dom_uuid, pipeline_children())
        self.assertIsNone(self.launcher.vv(dom_uuid))
        self.stop_vm(dom_uuid)

    def test_03_unknown_flavor_uses_default(self):
        name, dom_uuid = self.start_vm("m1.nosuchflavor")
        pid, port, _ = self.session(dom_uuid)
        self.assertIn(f"default-{name}", self.child(dom_uuid)[2][-1])
        self.assertIn(f'{dom_uuid}: flavor "m1.nosuchflavor" has no', self.launcher.text())
        self.assertIn("using default.conf", self.launcher.text())
        self.stop_vm(dom_uuid)
        self.no_child(dom_uuid)

    def test_04_broken_flavor_hurts_only_its_vm(self):
        good_name, good = self.start_vm("vdi.small")
        bad_name, bad = self.start_vm("vdi.broken")
        self.session(good)
        self.assertTrue(wait_until(
            lambda: f"{bad}: VM {bad_name} gets no desktop session" in self.launcher.text(), 10))
        self.assertIn("unknown variable ${NOPE}", self.launcher.text())
        self.assertIn("vdi.broken.conf", self.launcher.text())
        self.assertNotIn(bad, pipeline_children())
        self.assertIsNone(self.launcher.vv(bad))
        self.stop_vm(bad)
        self.stop_vm(good)
        self.no_child(good)

    def test_05_killed_child_is_restarted(self):
        name, dom_uuid = self.start_vm("vdi.small")
        pid, port, _ = self.session(dom_uuid)
        os.kill(pid, signal.SIGKILL)
        new = wait_until(lambda: [k for k in pipeline_children().get(dom_uuid, [])
                                  if k[0] != pid], 20)
        self.assertTrue(new, "child not restarted")
        self.assertIn(f"{dom_uuid}: pipeline was killed by signal 9", self.launcher.text())
        self.assertIn("restart 1 of 3", self.launcher.text())
        self.assertEqual(len(pipeline_children()[dom_uuid]), 1)
        self.stop_vm(dom_uuid)
        self.no_child(dom_uuid)

    def test_06_always_failing_child_gives_up(self):
        name, dom_uuid = self.start_vm("vdi.failing")
        self.assertTrue(wait_until(lambda: f"{dom_uuid}: pipeline exited with status 2; "
                                   "giving up after 3 restarts" in self.launcher.text(), 30),
                        "launcher did not give up")
        text = self.launcher.text()
        for n in (1, 2, 3):
            self.assertIn(f"restart {n} of 3", text)
        self.assertIn("nosuchelement", text)
        # Giving up is logged after the last child exited, with no restart
        # scheduled: nothing can come back.
        self.assertNotIn(dom_uuid, pipeline_children())
        self.assertIsNone(self.launcher.vv(dom_uuid))
        self.stop_vm(dom_uuid)

    def test_07_twenty_vms_at_once(self):
        vms = []
        lock = threading.Lock()

        def start():
            c = libvirt.open(self.libvirtd.uri)
            v = self.start_vm("vdi.small", conn=c)
            c.close()
            with lock:
                vms.append(v)

        threads = [threading.Thread(target=start) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(vms), 20)
        ok = wait_until(lambda: all(len(pipeline_children().get(u, [])) == 1
                                    and self.launcher.vv(u) for _, u in vms), 60)
        self.assertTrue(ok, "not every VM got exactly one pipeline")
        ports = [int(self.launcher.vv(u)[1]["port"]) for _, u in vms]
        self.assertEqual(len(set(ports)), 20, f"ports not distinct: {sorted(ports)}")
        tickets = {self.launcher.vv(u)[1]["password"] for _, u in vms}
        self.assertEqual(len(tickets), 20, "tickets not distinct")
        # No ticket on any child's command line or in its environment.
        self._check_no_ticket_leaks(tickets)

        def stop(u):
            c = libvirt.open(self.libvirtd.uri)
            self.stop_vm(u, conn=c)
            c.close()

        threads = [threading.Thread(target=stop, args=(u,)) for _, u in vms]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertTrue(wait_until(lambda: not any(u in pipeline_children() for _, u in vms), 60))
        self.assertTrue(wait_until(lambda: not any(port_open(p) for p in ports), 20),
                        "ports still open")
        left = wait_until(lambda: not [f for f in os.listdir(self.launcher.state)
                                       if f.endswith(".vv")], 5)
        self.assertTrue(left, "\n".join(
            line for f in os.listdir(self.launcher.state)
            for line in self.launcher.text().splitlines() if f[:-3] in line))
        # The ports are free again: a new VM gets the lowest one.
        name, dom_uuid = self.start_vm("vdi.small")
        _, port, _ = self.session(dom_uuid)
        self.assertEqual(port, min(ports))
        self.stop_vm(dom_uuid)
        self.no_child(dom_uuid)

    def _check_no_ticket_leaks(self, tickets):
        kids = [k for ks in pipeline_children().values() for k in ks]
        self.assertTrue(kids)
        for pid, _, _ in kids + [(self.launcher.proc.pid, 0, None)]:
            for what in ("cmdline", "environ"):
                with open(f"/proc/{pid}/{what}", "rb") as f:
                    data = f.read().decode(errors="replace")
                for t in tickets:
                    self.assertNotIn(t, data, f"ticket in /proc/{pid}/{what}")

    def test_08_launcher_restart_reconciles(self):
        vms = [self.start_vm("vdi.small") for _ in range(3)]
        old = {u: self.child(u)[0] for _, u in vms}
        self.launcher.proc.kill()
        self.launcher.proc.wait()
        # Its children go with it (no orphans)...
        self.assertTrue(wait_until(lambda: not any(u in pipeline_children() for _, u in vms), 20),
                        "orphaned pipeline children")
        # ...and the new launcher starts exactly one per VM.
        self.launcher.start()
        for _, u in vms:
            pid, ppid, _ = self.child(u)
            self.assertNotEqual(pid, old[u])
            self.assertEqual(ppid, self.launcher.proc.pid)
            self.assertTrue(wait_until(lambda: self.launcher.vv(u), 10))
        # start() waited for this run's "reconciled": every running VM has
        # had its one session_ensure.
        for _, u in vms:
            self.assertEqual(len(pipeline_children()[u]), 1, "duplicate pipeline")
            self.stop_vm(u)
        for _, u in vms:
            self.no_child(u)

    def test_09_libvirtd_restart_reconnects(self):
        name, dom_uuid = self.start_vm("vdi.small")
        self.child(dom_uuid)
        before = self.launcher.text().count("connected to ")
        self.libvirtd.stop()
        self.assertTrue(wait_until(lambda: "lost the connection" in self.launcher.text(), 30))
        self.libvirtd.start()
        type(self).conn = libvirt.open(self.libvirtd.uri)
        self.assertTrue(wait_until(lambda: self.launcher.text().count("connected to ") > before,
                                   60), "launcher did not reconnect")
        # The test driver forgets its domains on restart: the session goes.
        self.no_child(dom_uuid)
        # Events flow on the new connection.
        name, dom_uuid = self.start_vm("vdi.small")
        self.session(dom_uuid)
        self.stop_vm(dom_uuid)
        self.no_child(dom_uuid)

    def test_10_sigterm_stops_everything(self):
        vms = [self.start_vm("vdi.small") for _ in range(2)]
        for _, u in vms:
            self.session(u)
        self.launcher.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.launcher.proc.wait(20), 0)
        self.assertFalse(any(u in pipeline_children() for _, u in vms))
        self.assertIn("stopping every pipeline", self.launcher.text())
        for _, u in vms:
            self.assertIn(f"{u}: pipeline stopped", self.launcher.text())
            self.stop_vm(u)

        # systemd Type=notify: READY=1 once running, STOPPING=1 on SIGTERM.
        path = os.path.join(self.tmp, "notify.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as ns:
            ns.bind(path)
            ns.settimeout(30)
            self.launcher.env["NOTIFY_SOCKET"] = path
            try:
                self.launcher.start()
            finally:
                del self.launcher.env["NOTIFY_SOCKET"]
            self.assertEqual(ns.recv(256), b"READY=1")
            self.launcher.proc.send_signal(signal.SIGTERM)
            self.assertEqual(ns.recv(256), b"STOPPING=1")
            self.assertEqual(self.launcher.proc.wait(20), 0)
        self.launcher.start()


    def test_11_hard_reboot_gets_a_fresh_session(self):
        # destroy() + createXML() of the same domain at once: its STARTED
        # event arrives while the old session is still stopping.
        name, dom_uuid = self.start_vm("vdi.small")
        pid, port, (path, vv) = self.session(dom_uuid)
        xml = domain_xml(name, dom_uuid, "vdi.small", True)
        for cycle in range(3):
            old_pid, old_ticket = pid, vv["password"]
            self.stop_vm(dom_uuid)
            self.conn.createXML(xml, 0)
            fresh = wait_until(
                lambda: (pipeline_children().get(dom_uuid) or [(old_pid,)])[0][0]
                != old_pid and (self.launcher.vv(dom_uuid) or (0, {}))[1].get(
                    "password", old_ticket) != old_ticket, 30)
            self.assertTrue(fresh, f"cycle {cycle}: no new pipeline and .vv "
                            "after the hard reboot")
            pid, port, (path, vv) = self.session(dom_uuid)
            self.assertNotEqual(vv["password"], old_ticket)
        self.stop_vm(dom_uuid)
        self.no_child(dom_uuid)

    def test_12_sigterm_withdraws_the_metadata(self):
        name, dom_uuid = self.start_vm("vdi.small")
        pid, port, vv = self.session(dom_uuid)
        self.assertTrue(wait_until(lambda: self._metadata(dom_uuid), 10))
        self.launcher.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.launcher.proc.wait(20), 0)
        try:
            self.assertIsNone(self._metadata(dom_uuid),
                              "the stopped session's metadata is still published")
        finally:
            self.launcher.start()
            self.session(dom_uuid)
            self.stop_vm(dom_uuid)
            self.no_child(dom_uuid)


    def test_13_out_of_fds_fails_one_session(self):
        # A real EMFILE: the launcher's RLIMIT_NOFILE lowered to what it has
        # open plus one, so the new session's pipe2 fails.
        _, a = self.start_vm("vdi.small")
        a_pid, a_port, _ = self.session(a)
        pid = self.launcher.proc.pid
        limits = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        nfds = len(os.listdir(f"/proc/{pid}/fd"))
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (nfds + 1, limits[1]))
        try:
            _, b = self.start_vm("vdi.small")
            self.assertTrue(wait_until(
                lambda: f"{b}: pipeline could not be started: pipe2: Too many "
                "open files" in self.launcher.text() or
                self.launcher.proc.poll() is not None, 30),
                "no pipe2 failure logged")
            self.assertIsNone(self.launcher.proc.poll(), "the launcher died")
            self.assertEqual(self.child(a)[0], a_pid)
            self.assertTrue(port_open(a_port))
        finally:
            if self.launcher.proc.poll() is None:
                resource.prlimit(pid, resource.RLIMIT_NOFILE, limits)
            else:
                self.launcher.start()
        # With descriptors back, the backoff restart gives it its session.
        self.session(b)
        for u in (a, b):
            self.stop_vm(u)
            self.no_child(u)

    CLOSED = re.compile(r"closed the connection to \S+: (-?\d+) references left")

    def test_14_lost_connections_are_released(self):
        # Every lost connection is closed for good: virConnectClose returns
        # the references still held, and an event callback left registered
        # on a dead connection keeps one (the whole connection leaks).
        before = len(self.CLOSED.findall(self.launcher.text()))
        for cycle in range(3):
            connected = self.launcher.text().count("connected to ")
            self.libvirtd.stop()
            self.assertTrue(wait_until(lambda: len(self.CLOSED.findall(
                self.launcher.text())) > before + cycle, 30),
                f"cycle {cycle}: the lost connection was not closed")
            self.libvirtd.start()
            self.assertTrue(wait_until(lambda: self.launcher.text().count(
                "connected to ") > connected, 60), f"cycle {cycle}: no reconnect")
        type(self).conn = libvirt.open(self.libvirtd.uri)
        left = self.CLOSED.findall(self.launcher.text())[before:]
        self.assertEqual(left, ["0", "0", "0"],
                         "references left by each lost connection")
        # Events still flow on the last connection.
        name, dom_uuid = self.start_vm("vdi.small")
        self.session(dom_uuid)
        self.stop_vm(dom_uuid)
        self.no_child(dom_uuid)

    def test_15_hung_libvirtd_stalls_nothing(self):
        # libvirtd stopped (SIGSTOP): its socket accepts, nothing answers,
        # and only keepalive ends the connection, after some 15-20 s.
        # Children are supervised and SIGTERM stops them meanwhile; the
        # proof that the launcher did not wait for keepalive is the order of
        # its log: every child's exit before "lost the connection".
        vms = [self.start_vm("vdi.small")[1] for _ in range(2)]
        pids = {u: self.session(u)[0] for u in vms}
        self.assertTrue(wait_until(lambda: all(self._metadata(u) for u in vms), 10))
        lost_before = self.launcher.text().count("lost the connection")
        os.kill(self.libvirtd.proc.pid, signal.SIGSTOP)
        try:
            a, b = vms
            os.kill(pids[a], signal.SIGKILL)
            self.assertTrue(wait_until(lambda: [k for k in pipeline_children().get(a, [])
                                                if k[0] != pids[a]], 30),
                            "killed child not restarted while libvirtd hangs")
            self.launcher.proc.send_signal(signal.SIGTERM)
            stopped = [f"{u}: pipeline stopped" for u in vms]

            def settled():
                text = self.launcher.text()
                return (all(m in text for m in stopped)
                        or text.count("lost the connection") > lost_before)
            self.assertTrue(wait_until(settled, 60), "no reaction to SIGTERM")
            text = self.launcher.text()
            for m in stopped:
                self.assertIn(m, text, "a child's exit waited for libvirtd")
            lost_at = [x.start() for x in re.finditer("lost the connection", text)]
            if len(lost_at) > lost_before:
                self.assertLess(max(text.index(m) for m in stopped), lost_at[lost_before],
                                "the children were stopped only once keepalive "
                                "gave up on libvirtd")
            self.assertFalse(any(u in pipeline_children() for u in vms))
            # The launcher exits, libvirtd still hung (metadata withdrawal
            # given up after a bounded wait, or keepalive).
            self.assertEqual(self.launcher.proc.wait(60), 0)
        finally:
            os.kill(self.libvirtd.proc.pid, signal.SIGCONT)
            if self.launcher.proc.poll() is None:
                self.launcher.proc.kill()
                self.launcher.proc.wait()
            self.launcher.start()
        for u in vms:
            self.session(u)
            self.stop_vm(u)
            self.no_child(u)


    def test_16_direct_sessions_need_their_ticket(self):
        """console=direct (the default): a SPICE client gets the picture
        with the .vv file's ticket only."""
        if not os.path.exists(f"{BUILD}/tests/osvdi-spice-probe"):
            self.skipTest("osvdi-spice-probe is not built (no spice-client-glib)")
        self.assertIn("console=direct: sessions on 127.0.0.1, each with its own "
                      "ticket", self.launcher.text())
        _, dom_uuid = self.start_vm("vdi.small")
        try:
            _, port, (_, vv) = self.session(dom_uuid)
            self.assertIn("--ticket-fd", self.child(dom_uuid)[2])
            self.assertIn("console=\"direct\"", wait_until(
                lambda: self._metadata(dom_uuid), 10) or "")
            r = spice_probe(port, vv["password"])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            for wrong in (None, "not-the-ticket", vv["password"][:-1]):
                with self.subTest(ticket=wrong):
                    r = spice_probe(port, wrong, seconds=8)
                    self.assertNotEqual(r.returncode, 0, r.stdout)
                    self.assertIn(f"no SPICE server answered on 127.0.0.1 port {port}", r.stdout)
        finally:
            self.stop_vm(dom_uuid)
        self.no_child(dom_uuid)


def own_launcher(cls):
    """A test class with a launcher (and libvirtd) of its own, configured by
    its SPICE_CONF, and LauncherTest's set-up and helpers (those the class
    does not define itself)."""
    for name in ("setUpClass", "tearDownClass"):
        if name not in vars(cls):
            setattr(cls, name, classmethod(getattr(LauncherTest, name).__func__))
    for name in ("tearDown", "start_vm", "stop_vm", "child", "no_child",
                 "session", "_metadata"):
        if name not in vars(cls):
            setattr(cls, name, getattr(LauncherTest, name))
    return cls


@own_launcher
class ConsoleProxyTest(unittest.TestCase):
    """[spice] console=proxy: Nova's SPICE model, the console proxy is the
    gate; a launcher of its own on a private libvirtd."""

    TMP_PREFIX = "osvdi-console-proxy-test-"
    DRIVER = "test"
    SPICE_CONF = "console=proxy\naddress=127.0.0.1\n"

    def test_01_session_without_ticket_on_the_address_only(self):
        if not os.path.exists(f"{BUILD}/tests/osvdi-spice-probe"):
            self.skipTest("osvdi-spice-probe is not built (no spice-client-glib)")
        self.assertIn("console=proxy: sessions on 127.0.0.1 without tickets, the "
                      "console proxy is the gate", self.launcher.text())
        _, dom_uuid = self.start_vm("vdi.small")
        try:
            _, port, (path, vv) = self.session(dom_uuid)
            args = self.child(dom_uuid)[2]
            self.assertIn("--no-ticket", args)
            self.assertNotIn("--ticket-fd", args)
            # The metadata: the mode, the address a proxy connects to, the
            # port; no expiry (there is no ticket).
            meta = wait_until(lambda: self._metadata(dom_uuid), 10) or ""
            self.assertIn('console="proxy"', meta)
            self.assertIn('address="127.0.0.1"', meta)
            self.assertIn(f'port="{port}"', meta)
            self.assertNotIn("ticket-expiry", meta)
            self.assertNotIn("password", vv)
            # Listening on the configured address only, not on 0.0.0.0/::.
            self.assertEqual(tcp_listeners(port), ["0100007F"])
            # A real SPICE client without a ticket gets the picture.
            r = spice_probe(port)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        finally:
            self.stop_vm(dom_uuid)
        self.no_child(dom_uuid)


@own_launcher
class TicketRotationTest(unittest.TestCase):
    """ticket-lifetime: the launcher renews each session's ticket before it
    runs out; the sink takes it while playing, then the .vv file and the
    metadata get it. A connected client keeps its session; the old ticket
    is refused, the new one works."""

    TMP_PREFIX = "osvdi-ticket-rotation-test-"
    DRIVER = "test"
    # Renewed after 24 s (a fifth of the life, at least 5 s, at most half
    # of it, before it runs out): time for the probes between renewals.
    SPICE_CONF = "address=127.0.0.1\nticket-lifetime=30\n"

    def test_01_renewed_ticket_keeps_clients_and_refuses_the_old(self):
        if not os.path.exists(f"{BUILD}/tests/osvdi-spice-probe"):
            self.skipTest("osvdi-spice-probe is not built (no spice-client-glib)")
        _, dom_uuid = self.start_vm("vdi.small")
        release = os.path.join(self.tmp, "release-" + dom_uuid)
        held = None
        try:
            pid, port, (path, vv) = self.session(dom_uuid)
            old = vv["password"]
            meta0 = wait_until(lambda: self._metadata(dom_uuid), 10) or ""
            # A client on the first ticket, held across the renewal.
            held = subprocess.Popen(
                [f"{BUILD}/tests/osvdi-spice-probe", "--port", str(port),
                 "--password", old, "--seconds", "60", "--hold-until", release,
                 "2,2,ffffff", "60,2,0000ff"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            # (Sanitizer warnings may come first on the same pipe.)
            first = ""
            for line in held.stdout:
                first += line
                if "probe: picture" in line:
                    break
            self.assertIn("probe: picture", first,
                          f"the held client got no picture: {first}")
            # The renewal: a new ticket in the .vv file once the sink has it.
            new = wait_until(lambda: (self.launcher.vv(dom_uuid) or (0, {}))[1]
                             .get("password") not in (None, old) and
                             self.launcher.vv(dom_uuid)[1]["password"], 40)
            self.assertTrue(new, "the ticket was not renewed within 40 s")
            self.assertIn(f"{dom_uuid}: renewed ticket in use, valid for 30 s",
                          self.launcher.text())
            meta1 = wait_until(lambda: (lambda m: m != meta0 and m)(
                self._metadata(dom_uuid)), 10)
            self.assertTrue(meta1, "the metadata kept the old expiry")
            self.assertIn("ticket-expiry", meta1)
            # Same pipeline child: renewed, not restarted.
            self.assertEqual(self.child(dom_uuid)[0], pid)
            r = spice_probe(port, old, seconds=8)
            self.assertNotEqual(r.returncode, 0, "the old ticket still works: " + r.stdout)
            # The held client is still connected and still gets frames.
            open(release, "w").close()
            out, _ = held.communicate(timeout=60)
            self.assertEqual(held.returncode, 0, first + out)
            self.assertIn("session still open", out)
            held = None
            # The new ticket works (after the held client: spice-server
            # serves one client, a new one takes the session over).
            r = spice_probe(port, new)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        finally:
            if held:
                held.kill()
                held.wait()
            self.stop_vm(dom_uuid)
        self.no_child(dom_uuid)


def make_x509_dir(path):
    """A throw-away CA and a server certificate for 127.0.0.1 in @path."""
    os.makedirs(path)
    script = ("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=osvdi-test-ca "
              "-keyout ca-key.pem -out ca-cert.pem && "
              "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 "
              "-keyout server-key.pem -out server.csr && "
              "printf 'subjectAltName=IP:127.0.0.1' > ext.cnf && "
              "openssl x509 -req -in server.csr -CA ca-cert.pem -CAkey ca-key.pem "
              "-CAcreateserial -days 1 -extfile ext.cnf -out server-cert.pem")
    subprocess.run(["sh", "-c", script], cwd=path, check=True, capture_output=True)


def tls_probe(port, ca, password, seconds=60):
    """osvdi-spice-probe on TLS port @port, trusting @ca."""
    return subprocess.run(
        [f"{BUILD}/tests/osvdi-spice-probe", "--tls-port", str(port), "--ca-file", ca,
         "--password", password, "--seconds", str(seconds), "2,2,ffffff", "60,2,0000ff"],
        capture_output=True, text=True, timeout=seconds + 60)


@own_launcher
class TlsPortTest(unittest.TestCase):
    """[spice] tls-port-min/max like the plain range: each session that
    serves TLS gets a port of the range, the .vv file and the metadata say
    it, a real client connects over TLS; the range runs out for one VM only
    (a clear error), ports come back when VMs stop; a TLS-only flavor holds
    no plain port and a flavor without TLS no TLS port."""

    TMP_PREFIX = "osvdi-tls-port-test-"
    DRIVER = "test"
    TLS_MIN, TLS_MAX = 26800, 26801        # two: the third VM finds none

    @classmethod
    def setUpClass(cls):
        x509 = tempfile.mkdtemp(prefix="osvdi-tls-x509-")
        shutil.rmtree(x509)
        make_x509_dir(x509)
        cls.x509 = x509
        cls.SPICE_CONF = (f"address=127.0.0.1\ntls-port-min={cls.TLS_MIN}\n"
                          f"tls-port-max={cls.TLS_MAX}\nx509-dir={x509}\n")
        LauncherTest.setUpClass.__func__(cls)

    def vv(self, dom_uuid):
        v = wait_until(lambda: self.launcher.vv(dom_uuid), 20)
        self.assertTrue(v, "no .vv file")
        return v[1]

    def test_01_ranges_exhaustion_reuse_and_tls_only(self):
        if not os.path.exists(f"{BUILD}/tests/osvdi-spice-probe"):
            self.skipTest("osvdi-spice-probe is not built (no spice-client-glib)")
        ca = os.path.join(self.x509, "ca-cert.pem")
        vms = []
        try:
            # Both ports; a real client over TLS with the CA in the .vv file.
            _, a = self.start_vm("vdi.tls")
            vms.append(a)
            self.child(a)
            va = self.vv(a)
            tls_a = int(va["tls-port"])
            self.assertTrue(self.TLS_MIN <= tls_a <= self.TLS_MAX, va)
            self.assertTrue(PORT_MIN <= int(va["port"]) <= PORT_MAX, va)
            self.assertIn("BEGIN CERTIFICATE", va["ca"].replace("\\n", "\n"))
            self.assertIn(f"tls-port='{tls_a}'".replace("'", '"'),
                          (wait_until(lambda: self._metadata(a), 10) or "").replace("'", '"'))
            self.assertTrue(wait_until(lambda: port_open(tls_a), 20))
            r = tls_probe(tls_a, ca, va["password"])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            # TLS only: no plain port held or published.
            _, b = self.start_vm("vdi.tlsonly")
            vms.append(b)
            self.child(b)
            vb = self.vv(b)
            self.assertNotIn("port", vb, "a TLS-only session published a plain port")
            tls_b = int(vb["tls-port"])
            self.assertNotEqual(tls_a, tls_b)
            self.assertTrue(wait_until(lambda: port_open(tls_b), 20))
            r = tls_probe(tls_b, ca, vb["password"])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            # A flavor without TLS takes no TLS port, even with the range set.
            _, c = self.start_vm("vdi.small")
            vms.append(c)
            self.child(c)
            self.assertNotIn("tls-port", self.vv(c))
            # The TLS range is exhausted: that VM only, with a clear error.
            _, d = self.start_vm("vdi.tls")
            vms.append(d)
            msg = (f"{d}: no free SPICE TLS port in {self.TLS_MIN}-{self.TLS_MAX}: "
                   f"VM ")
            self.assertTrue(wait_until(lambda: msg in self.launcher.text(), 20),
                            "no clear error for the exhausted TLS range")
            self.assertNotIn(d, pipeline_children())
            self.assertIsNone(self.launcher.vv(d))
            for u in (a, b, c):
                self.assertTrue(port_open(int(self.vv(u).get("tls-port") or self.vv(u)["port"])))
            # A VM that stops gives its TLS port back: the next one gets it.
            self.stop_vm(a)
            vms.remove(a)
            self.no_child(a)
            _, e = self.start_vm("vdi.tls")
            vms.append(e)
            self.child(e)
            self.assertEqual(int(self.vv(e)["tls-port"]), tls_a)
        finally:
            for u in vms:
                try:
                    self.stop_vm(u)
                except libvirt.libvirtError:
                    pass
            for u in vms:
                self.no_child(u)
            shutil.rmtree(self.x509, ignore_errors=True)


class QemuVmTest(unittest.TestCase):
    """The production path: a real QEMU VM under libvirt's QEMU driver with
    <graphics type='dbus' p2p='yes'/>; the launcher hands the pipeline a
    display connection from virDomainOpenGraphicsFD."""

    TMP_PREFIX = "osvdi-qemu-vm-test-"
    DRIVER = "qemu"             # real TCG VMs
    setUpClass = classmethod(LauncherTest.setUpClass.__func__)
    tearDownClass = classmethod(LauncherTest.tearDownClass.__func__)
    tearDown = LauncherTest.tearDown
    child = LauncherTest.child
    no_child = LauncherTest.no_child
    session = LauncherTest.session

    def probe(self, port, password):
        """A real SPICE client waits for SeaBIOS's banner (text in the
        first row of the 720x400 text mode)."""
        r = subprocess.run([f"{BUILD}/tests/osvdi-spice-probe", "--port",
                            str(port), "--password", password, "--seconds",
                            "120", "--lit", "0,0,720,16,100"],
                           capture_output=True, text=True, timeout=180)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_01_vm_desktop_reaches_client_and_reconnects(self):
        name = "vm-" + uuid.uuid4().hex[:8]
        dom_uuid = str(uuid.uuid4())
        dom = self.conn.createXML(qemu_domain_xml(name, dom_uuid), 0)
        try:
            pid, port, (path, vv) = self.session(dom_uuid)
            self.assertIn("qemu-display-fd=5", self.child(dom_uuid)[2][-1])
            self.probe(port, vv["password"])

            # The pipeline dies (as when QEMU drops the display connection):
            # the launcher starts it again with a fresh connection.
            os.kill(pid, signal.SIGKILL)
            new = wait_until(lambda: [k for k in pipeline_children().get(dom_uuid, [])
                                      if k[0] != pid], 30)
            self.assertTrue(new, "the pipeline was not restarted")
            self.assertTrue(wait_until(lambda: port_open(port), 30))
            self.probe(port, vv["password"])
        finally:
            dom.destroy()
        # The VM is gone: so is its session (whether the pipeline's end of
        # stream or libvirt's event comes first).
        self.no_child(dom_uuid, 30)
        self.assertTrue(wait_until(lambda: f"{dom_uuid}: stopping the pipeline (the VM "
                                   "stopped)" in self.launcher.text(), 30),
                        self.launcher.text()[-3000:])
        # A stopping session never restarts on its own (only a new STARTED
        # event would).
        self.assertNotIn(dom_uuid, pipeline_children(), "restarted for a dead VM")

    def test_02_vm_without_a_display_is_skipped(self):
        name = "vm-" + uuid.uuid4().hex[:8]
        dom_uuid = str(uuid.uuid4())
        dom = self.conn.createXML(qemu_domain_xml(name, dom_uuid, dbus=False), 0)
        try:
            self.assertTrue(wait_until(lambda: f"{dom_uuid}: no pipeline: it has "
                                       "neither" in self.launcher.text(), 30),
                            self.launcher.text()[-2000:])
            self.assertNotIn(dom_uuid, pipeline_children())
        finally:
            dom.destroy()


    def run_pipeline(self, pipeline, **kw):
        runner = f"{BUILD}/launcher/osvdi-pipeline"
        return subprocess.Popen([runner, pipeline], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True,
                                env=dict(self.launcher.env, **asan_preload(runner)), **kw)

    def test_03_element_asks_libvirt_for_the_display(self):
        """vfiodmabufsrc domain= libvirt-uri=: the element opens the display
        connection itself (the gst-launch-1.0 user's way)."""
        # QEMU serves one display client: with the launcher running, its
        # pipeline and ours would take the display from each other.
        self.launcher.proc.terminate()
        self.launcher.proc.wait(30)
        name = "vm-" + uuid.uuid4().hex[:8]
        dom_uuid = str(uuid.uuid4())
        uri = self.libvirtd.uri
        dom = self.conn.createXML(qemu_domain_xml(name, dom_uuid, vnc=True), 0)
        nodisplay = self.conn.createXML(qemu_domain_xml(
            "nd-" + name, str(uuid.uuid4()), dbus=False), 0)
        try:
            port = free_port()
            p = self.run_pipeline(
                f"vfiodmabufsrc domain={name} libvirt-uri={uri} ! videoconvert ! "
                "x264enc tune=zerolatency speed-preset=ultrafast ! h264parse ! "
                f"spicesink port={port} password=t0p-secret")
            try:
                self.assertTrue(wait_until(lambda: port_open(port), 30),
                                "the pipeline did not start")
                self.probe(port, "t0p-secret")
            finally:
                p.terminate()
                p.communicate(timeout=30)
            # By UUID: one frame, then end of stream (a clean exit).
            p = self.run_pipeline(f"vfiodmabufsrc domain={dom_uuid} libvirt-uri={uri} "
                                  "num-buffers=1 ! fakesink")
            _, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, err)

            # Each way of getting it wrong: one clear error, at once.
            cases = [
                (f"domain=nosuch-{name} libvirt-uri={uri}",
                 f"No domain 'nosuch-{name}' at qemu+unix:///system"),
                (f"domain=nd-{name} libvirt-uri={uri}",
                 f"Domain 'nd-{name}' has no D-Bus display: its XML needs "
                 "<graphics type='dbus' p2p='yes'/>"),
                (f"domain={name} libvirt-uri=qemu+unix:///system?socket={self.tmp}/none",
                 "Cannot connect to libvirt at qemu+unix:///system?socket="),
                (f"domain={name} qemu-display-fd=0", "Set exactly one of"),
                (f"libvirt-uri={uri}", "\"libvirt-uri\" goes with \"domain\""),
            ]
            for props, message in cases:
                p = self.run_pipeline(f"vfiodmabufsrc {props} ! fakesink")
                _, err = p.communicate(timeout=60)
                self.assertNotEqual(p.returncode, 0, props)
                self.assertIn(message, err, props)
            # The VM's display still works after all that.
            self.assertTrue(dom.isActive())
        finally:
            dom.destroy()
            nodisplay.destroy()
            self.launcher.start()


class CheckConfigTest(unittest.TestCase):
    """--check-config on a small corpus of good and broken files."""

    def run_check(self, files, launcher_conf=None):
        tmp = tempfile.mkdtemp(prefix="osvdi-check-")
        try:
            flavors = os.path.join(tmp, "flavors.d")
            os.makedirs(flavors)
            for name, text in files.items():
                with open(os.path.join(flavors, name), "w") as f:
                    f.write(text)
            conf = os.path.join(tmp, "launcher.conf")
            with open(conf, "w") as f:
                f.write(launcher_conf if launcher_conf is not None else "[launcher]\n")
            p = subprocess.run([f"{BUILD}/launcher/osvdi-launcher", "--config", conf,
                                "--check-config"], capture_output=True, text=True,
                               env=dict(os.environ,
                                        GST_REGISTRY_1_0=os.path.join(tmp, "reg.bin")))
            return p.returncode, p.stdout + p.stderr
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    GOOD = "[flavor]\npipeline=videotestsrc ! x264enc ! h264parse ! spicesink port=${SPICE_PORT}\n"

    def test_shipped_examples(self):
        src = os.path.join(os.path.dirname(__file__), "..", "..", "launcher")
        p = subprocess.run([f"{BUILD}/launcher/osvdi-launcher", "--config",
                            os.path.join(src, "launcher.conf"), "--check-config"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr[-3000:])
        self.assertIn("vdi.intel.conf: OK (not installed on this host:", p.stdout)
        self.assertIn("vah264enc", p.stdout)
        self.assertIn("vdi.nvidia.conf: OK", p.stdout)

    def test_good(self):
        rc, out = self.run_check({"default.conf": self.GOOD,
                                  "vdi.va.conf": "[flavor]\npipeline=videotestsrc ! "
                                  "vah264enc ! spicesink port=${SPICE_PORT}\n"})
        self.assertEqual(rc, 0, out)
        self.assertIn("default.conf: OK", out)
        self.assertIn("vdi.va.conf: OK (not installed on this host: vah264enc)", out)

    def test_each_kind_of_broken_file(self):
        cases = {
            "syntax.conf": ("garbage [[[\n", "syntax.conf: ERROR"),
            "nokey.conf": ("[flavor]\nother=1\n", "no [flavor] pipeline="),
            "unknown.conf": ("[flavor]\npipeline=videotestsrc ! spicesink port=${PORTT}\n",
                             "unknown variable ${PORTT}"),
            "unterminated.conf": ("[flavor]\npipeline=videotestsrc ! spicesink port=${SPICE_PORT\n",
                                  "unterminated"),
            "noport.conf": ("[flavor]\npipeline=videotestsrc ! spicesink\n",
                            "neither ${SPICE_PORT}"),
            "parse.conf": ("[flavor]\npipeline=videotestsrc ! ! spicesink port=${SPICE_PORT}\n",
                           "does not parse"),
        }
        for name, (text, expect) in cases.items():
            with self.subTest(name):
                rc, out = self.run_check({"default.conf": self.GOOD, name: text})
                self.assertEqual(rc, 1, out)
                self.assertIn(expect, out)
                self.assertIn("default.conf: OK", out)
        rc, out = self.run_check({"vdi.x.conf": self.GOOD})
        self.assertEqual(rc, 1, out)
        self.assertIn("no default.conf", out)
        rc, out = self.run_check({"default.conf": self.GOOD},
                                 "[spice]\nport-min=6000\nport-max=5000\n")
        self.assertEqual(rc, 1, out)
        self.assertIn("port-min 6000 is above port-max 5000", out)
        rc, out = self.run_check({"default.conf": self.GOOD}, "[spice]\nport-min=lots\n")
        self.assertEqual(rc, 1, out)
        self.assertIn("port-min must be a number", out)

    def test_console_mode(self):
        rc, out = self.run_check({"default.conf": self.GOOD})
        self.assertEqual(rc, 0, out)
        self.assertIn("console=direct: sessions on 127.0.0.1, each with its own ticket", out)
        rc, out = self.run_check({"default.conf": self.GOOD},
                                 "[spice]\nconsole=proxy\naddress=10.0.0.5\n")
        self.assertEqual(rc, 0, out)
        self.assertIn("console=proxy: sessions on 10.0.0.5 without tickets, the console "
                      "proxy is the gate", out)
        # Loopback is allowed (a proxy on this host).
        rc, out = self.run_check({"default.conf": self.GOOD},
                                 "[spice]\nconsole=proxy\naddress=127.0.0.1\n")
        self.assertEqual(rc, 0, out)
        for address in ("0.0.0.0", "::", "0:0::0", "*"):
            with self.subTest(address=address):
                rc, out = self.run_check({"default.conf": self.GOOD},
                                         f"[spice]\nconsole=proxy\naddress={address}\n")
                self.assertEqual(rc, 1, out)
                self.assertIn(f'console=proxy needs address= set to one management '
                              f'address (the one the console proxy reaches), not "{address}"',
                              out)
        rc, out = self.run_check({"default.conf": self.GOOD}, "[spice]\nconsole=proxy\n"
                                 "address=10.0.0.5\nticket-lifetime=60\n")
        self.assertEqual(rc, 1, out)
        self.assertIn("ticket-lifetime has no meaning with console=proxy", out)
        rc, out = self.run_check({"default.conf": self.GOOD}, "[spice]\nconsole=open\n")
        self.assertEqual(rc, 1, out)
        self.assertIn('console must be direct or proxy, not "open"', out)


class ProviderConfigTest(unittest.TestCase):
    """--write-provider-config: nova-compute's Placement provider config."""

    RC = "CUSTOM_OSVDI_ENCODER_SESSION"
    X264 = CheckConfigTest.GOOD
    NVENC = ("[flavor]\npipeline=videotestsrc ! nvh264enc ! h264parse ! "
             "spicesink port=${SPICE_PORT}\n")
    # What g_get_num_processors() counts: the CPUs this process may run on.
    CORES = len(os.sched_getaffinity(0))
    NOVA_ROOT = "/var/cache/osvdi/debian13-root"

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="osvdi-provider-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def run_launcher(self, files, launcher_conf="[launcher]\n", args=("--write-provider-config",)):
        flavors = os.path.join(self.tmp, "flavors.d")
        shutil.rmtree(flavors, ignore_errors=True)
        os.makedirs(flavors)
        for name, text in files.items():
            with open(os.path.join(flavors, name), "w") as f:
                f.write(text)
        conf = os.path.join(self.tmp, "launcher.conf")
        with open(conf, "w") as f:
            f.write(launcher_conf)
        return subprocess.run([f"{BUILD}/launcher/osvdi-launcher", "--config", conf] + list(args),
                              capture_output=True, text=True,
                              env=dict(os.environ,
                                       GST_REGISTRY_1_0=os.path.join(self.tmp, "reg.bin")))

    def provider(self, files, launcher_conf="[launcher]\n"):
        p = self.run_launcher(files, launcher_conf)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr[-3000:])
        doc = yaml.safe_load(p.stdout)
        self.assertEqual(doc["meta"], {"schema_version": "1.0"})
        return doc, p.stdout

    def inventory(self, doc, rc=RC):
        self.assertEqual(len(doc["providers"]), 1, doc)
        prov = doc["providers"][0]
        # Nova's placeholder for the compute node's own provider is a uuid.
        self.assertEqual(prov["identification"], {"uuid": "$COMPUTE_NODE"})
        [inv] = prov["inventories"]["additional"]
        self.assertEqual(list(inv), [rc])
        inv = inv[rc]
        self.assertEqual(sorted(inv), ["allocation_ratio", "max_unit", "min_unit",
                                       "reserved", "step_size", "total"])
        self.assertEqual((inv["min_unit"], inv["step_size"], inv["allocation_ratio"]),
                         (1, 1, 1.0))
        self.assertEqual(inv["max_unit"], inv["total"])
        return inv

    def test_software_only_counts_cores(self):
        doc, text = self.provider({"default.conf": self.X264, "vdi.sw.conf": self.X264})
        inv = self.inventory(doc)
        self.assertEqual((inv["total"], inv["reserved"]), (self.CORES, 0))
        self.assertIn(f"software (x264enc): {self.CORES}: {self.CORES} core", text)
        self.assertIn("sessions-per-core", text)
        for per_core, total in (("2", 2 * self.CORES), ("0.5", self.CORES // 2)):
            with self.subTest(per_core):
                doc, _ = self.provider({"default.conf": self.X264},
                                       f"[placement]\nsessions-per-core={per_core}\n")
                if total:
                    self.assertEqual(self.inventory(doc)["total"], total)
                else:
                    self.assertEqual(doc["providers"], [])

    def test_override_total_reserved_and_class(self):
        doc, text = self.provider({"default.conf": self.X264},
                                  "[placement]\ntotal=7\nreserved=2\n"
                                  "resource-class=CUSTOM_VDI_ENC\n")
        inv = self.inventory(doc, "CUSTOM_VDI_ENC")
        self.assertEqual((inv["total"], inv["reserved"]), (7, 2))
        self.assertIn(f"forced by [placement] total (computed: {self.CORES})", text)
        # Placement refuses reserved above total: it is cut to the total.
        doc, text = self.provider({"default.conf": self.X264}, "[placement]\ntotal=3\nreserved=9\n")
        inv = self.inventory(doc)
        self.assertEqual((inv["total"], inv["reserved"]), (3, 3))
        self.assertIn("reserved is 9, more than the total", text)

    def test_nvenc_flavor_without_nvidia_device_adds_nothing(self):
        if glob.glob("/dev/nvidia[0-9]*"):
            self.skipTest("this host has /dev/nvidia* devices")
        doc, text = self.provider({"default.conf": self.X264, "vdi.nvidia.conf": self.NVENC},
                                  "[placement]\nsessions-per-nvenc-gpu=16\n")
        # No NVIDIA device here (and no nvh264enc element): NVENC adds 0,
        # the total is the software figure alone.
        self.assertEqual(self.inventory(doc)["total"], self.CORES)
        [line] = [l for l in text.splitlines() if l.startswith("#   NVENC (nvh264enc): ")]
        self.assertIn("NVENC (nvh264enc): 0: ", line)
        self.assertIn("no /dev/nvidia[0-9]* device", line)
        self.assertIn("vdi.nvidia.conf: nvh264enc (NVENC)", text)

    def test_no_encoder_means_no_inventory(self):
        doc, text = self.provider({"default.conf": "[flavor]\npipeline=videotestsrc ! "
                                   "jpegenc ! spicesink port=${SPICE_PORT}\n"})
        # Placement takes no inventory with total 0.
        self.assertEqual(doc["providers"], [])
        self.assertIn("jpegenc (no capacity figure for it: not counted)", text)

    def test_unknown_resource_class_is_refused(self):
        for rc in ("OSVDI_ENCODER_SESSION", "CUSTOM_osvdi", "CUSTOM_", "CUSTOM_A-B"):
            with self.subTest(rc):
                p = self.run_launcher({"default.conf": self.X264},
                                      f"[placement]\nresource-class={rc}\n")
                self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
                self.assertEqual(p.stdout, "")
                self.assertIn(f'resource-class "{rc}" is not a custom resource class',
                              p.stderr)

    def test_broken_launcher_conf_exits_1(self):
        cases = {"garbage [[[\n": "launcher.conf",
                 "[spice]\nport-min=lots\n": "port-min must be a number",
                 "[placement]\nsessions-per-core=lots\n": "sessions-per-core must be a number",
                 "[placement]\nsessions-per-va-gpu=-1\n": "sessions-per-va-gpu must be a whole",
                 "[placement]\ntotal=many\n": "[placement] total must be a whole",
                 "[placement]\nprovider-config=relative.yaml\n": "must be an absolute path"}
        for conf, expect in cases.items():
            with self.subTest(conf):
                p = self.run_launcher({"default.conf": self.X264}, conf)
                self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
                self.assertEqual(p.stdout, "")
                self.assertIn(expect, p.stderr)

    def test_file_is_written_whole_and_readable(self):
        out = os.path.join(self.tmp, "provider", "osvdi.yaml")
        p = self.run_launcher({"default.conf": self.X264},
                              args=["--write-provider-config=" + out])
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot write the provider config", p.stderr)
        os.makedirs(os.path.dirname(out))
        with open(out, "w") as f:
            f.write("old")
        p = self.run_launcher({"default.conf": self.X264},
                              args=["--write-provider-config=" + out])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "")
        self.assertEqual(os.listdir(os.path.dirname(out)), ["osvdi.yaml"])
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o644)
        with open(out) as f:
            self.assertEqual(self.inventory(yaml.safe_load(f))["total"], self.CORES)
        p = self.run_launcher({"default.conf": self.X264},
                              args=["--write-provider-config=" + out[:-5] + ".conf"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("nova-compute reads only *.yaml", p.stderr)
        p = self.run_launcher({"default.conf": self.X264}, args=["--write-provider-config=-"])
        self.assertEqual(self.inventory(yaml.safe_load(p.stdout))["total"], self.CORES)

    def test_check_config_reports_capacity(self):
        p = self.run_launcher({"default.conf": self.X264, "vdi.nvidia.conf": self.NVENC},
                              "[placement]\nreserved=1\n", args=["--check-config"])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr[-3000:])
        [line] = [l for l in p.stdout.splitlines() if l.startswith("placement: ")]
        self.assertTrue(line.startswith(f"placement: {self.RC} total {self.CORES}, reserved 1 ("),
                        line)
        self.assertIn(f"software {self.CORES}", line)
        p = self.run_launcher({"default.conf": self.X264}, "[placement]\nresource-class=x\n",
                              args=["--check-config"])
        self.assertEqual(p.returncode, 1)
        self.assertIn('resource-class "x" is not a custom resource class', p.stdout)

    def test_daemon_writes_it_at_start(self):
        out = os.path.join(self.tmp, "osvdi.yaml")
        conf = (f"[launcher]\nconnect=test:///default\nstate-dir={self.tmp}/run\n"
                f"[placement]\nprovider-config={out}\n")
        flavors = os.path.join(self.tmp, "flavors.d")
        os.makedirs(flavors)
        with open(os.path.join(flavors, "default.conf"), "w") as f:
            f.write(self.X264)
        with open(os.path.join(self.tmp, "launcher.conf"), "w") as f:
            f.write(conf)
        p = subprocess.Popen([f"{BUILD}/launcher/osvdi-launcher", "--config",
                              os.path.join(self.tmp, "launcher.conf")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             # As LauncherTest: no leak check on the daemon
                             # (with test:/// libvirt never frees the close
                             # callback's data, libvirtconn.c's CloseCtx).
                             env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=0",
                                      GST_REGISTRY_1_0=os.path.join(self.tmp, "reg.bin")))
        try:
            self.assertTrue(wait_until(lambda: os.path.exists(out), 60), "no provider config")
            with open(out) as f:
                self.assertEqual(self.inventory(yaml.safe_load(f))["total"], self.CORES)
        finally:
            p.send_signal(signal.SIGTERM)
            err = p.communicate(timeout=60)[1]
        self.assertEqual(p.returncode, 0, err[-3000:])
        self.assertIn(f"wrote {out}", err)

    def test_nova_31_loads_it(self):
        """Nova's own loader (nova.compute.provider_config, Nova 31 in the
        Debian 13 root) reads the file: schema and custom-class checks."""
        loader = os.path.join(self.NOVA_ROOT, "usr/lib/python3/dist-packages/nova/compute/"
                              "provider_config.py")
        if not os.path.exists(loader):
            self.skipTest(f"no Nova in {self.NOVA_ROOT} (the openstack or nova-unit "
                          "root makes it)")
        if os.geteuid() != 0:
            self.skipTest("chroot into the Debian 13 root needs root")
        d = tempfile.mkdtemp(prefix="osvdi-provider-", dir=os.path.join(self.NOVA_ROOT, "tmp"))
        self.addCleanup(shutil.rmtree, d, True)
        cases = {"soft.yaml": ("", self.CORES), "forced.yaml": ("total=5\nreserved=1\n", 5)}
        for name, (conf, _) in cases.items():
            p = self.run_launcher({"default.conf": self.X264}, "[placement]\n" + conf,
                                  args=["--write-provider-config=" + os.path.join(d, name)])
            self.assertEqual(p.returncode, 0, p.stderr)
        inside = "/" + os.path.relpath(d, self.NOVA_ROOT)
        script = ("import json, sys\n"
                  "from nova.compute import provider_config as pc\n"
                  "for f in sys.argv[1:]:\n"
                  "    print(json.dumps(pc._parse_provider_yaml(f)))\n")
        p = subprocess.run(["chroot", self.NOVA_ROOT, "/usr/bin/python3", "-c", script] +
                           [f"{inside}/{n}" for n in cases], capture_output=True, text=True,
                           env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        docs = [json.loads(l) for l in p.stdout.splitlines()]
        for doc, (name, (_, total)) in zip(docs, cases.items()):
            with self.subTest(name):
                self.assertEqual(self.inventory(doc)["total"], total)
        # The same loader refuses a class that is not CUSTOM_ (our check
        # mirrors it), so the test can tell a good file from a bad one.
        with open(os.path.join(d, "soft.yaml")) as f:
            bad = f.read().replace(self.RC, "OSVDI_ENCODER_SESSION")
        with open(os.path.join(d, "soft.yaml"), "w") as f:
            f.write(bad)
        p = subprocess.run(["chroot", self.NOVA_ROOT, "/usr/bin/python3", "-c",
                            "from nova.compute import provider_config as pc\n"
                            f"pc.get_provider_configs('{inside}')\n"],
                           capture_output=True, text=True,
                           env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("only custom resource classes are allowed", p.stderr)


class RunnerTest(unittest.TestCase):
    """osvdi-pipeline on its own: ticket through a descriptor, status lines."""

    def run_runner(self, pipeline, ticket=None):
        tr, tw = os.pipe()
        sr, sw = os.pipe()
        if ticket is not None:
            os.write(tw, ticket.encode() + b"\n")
        os.close(tw)
        p = subprocess.Popen([f"{BUILD}/launcher/osvdi-pipeline", "--domain", "d-1",
                              "--ticket-fd", str(tr), "--status-fd", str(sw), pipeline],
                             pass_fds=(tr, sw), stderr=subprocess.PIPE, text=True)
        os.close(tr)
        os.close(sw)
        return p, os.fdopen(sr)

    def test_bad_pipeline(self):
        p, status = self.run_runner("videotestsrc ! nosuchelement ! fakesink", "t")
        self.assertEqual(p.wait(30), 2)
        self.assertIn("error the pipeline does not parse", status.read())
        p.stderr.close()

    def test_no_element_for_the_ticket(self):
        p, status = self.run_runner("videotestsrc num-buffers=1 ! fakesink", "t")
        self.assertEqual(p.wait(30), 2)
        self.assertIn("no element that takes the ticket", status.read())
        p.stderr.close()

    def test_no_ticket(self):
        """--no-ticket (console=proxy): spicesink starts without a password,
        which it refuses otherwise; a pipeline without spicesink is an error."""
        sr, sw = os.pipe()
        port = free_port()
        p = subprocess.Popen([f"{BUILD}/launcher/osvdi-pipeline", "--no-ticket",
                              "--status-fd", str(sw),
                              "videotestsrc is-live=true ! video/x-raw,width=64,height=48 "
                              f"! x264enc tune=zerolatency ! h264parse ! spicesink port={port}"],
                             pass_fds=(sw,), stderr=subprocess.PIPE, text=True)
        os.close(sw)
        status = os.fdopen(sr)
        self.assertEqual(status.readline().strip(), "playing")
        self.assertTrue(wait_until(lambda: port_open(port), 20))
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(30), 0, p.stderr.read())
        status.close()
        p.stderr.close()
        p = subprocess.run([f"{BUILD}/launcher/osvdi-pipeline", "--no-ticket",
                            "videotestsrc num-buffers=1 ! fakesink"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--no-ticket, but the pipeline has no element", p.stderr)

    def test_ticket_reaches_spicesink_and_sigterm_ends_with_eos(self):
        port = free_port()
        p, status = self.run_runner(
            "videotestsrc is-live=true ! video/x-raw,width=64,height=48 ! x264enc "
            f"tune=zerolatency ! h264parse ! spicesink port={port}", "secret-ticket")
        self.assertEqual(status.readline().strip(), "playing")
        # spicesink refuses to start without a ticket: listening proves it got one.
        self.assertTrue(wait_until(lambda: port_open(port), 20))
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(30), 0, p.stderr.read())
        self.assertEqual(status.read().strip(), "eos")
        p.stderr.close()


if __name__ == "__main__":
    selected = sys.argv[2:] or ["LauncherTest", "CheckConfigTest", "RunnerTest"]
    # OSVDI_TESTS="LauncherTest.test_11_... ..." narrows a meson test to a
    # few methods (meson appends --test-args; this replaces them).
    if os.environ.get("OSVDI_TESTS"):
        only = os.environ["OSVDI_TESTS"].split()
        if all(t.split(".")[0] in selected for t in only):
            selected = only
    # OSVDI_TEST_ORDER=reverse or random[:SEED] runs each class's methods in
    # another order: the tests must not depend on each other's order.
    order = os.environ.get("OSVDI_TEST_ORDER", "")
    if order:
        expanded = []
        for t in selected:
            if "." in t:
                expanded.append(t)
                continue
            names = unittest.TestLoader().getTestCaseNames(globals()[t])
            expanded += [f"{t}.{n}" for n in names]
        if order == "reverse":
            expanded.reverse()
        elif order.startswith("random"):
            seed = order.partition(":")[2] or str(random.randrange(1 << 30))
            print(f"test order: random:{seed}")
            random.Random(seed).shuffle(expanded)
        else:
            print(f"OSVDI_TEST_ORDER={order}: expected reverse or random[:SEED]")
            sys.exit(2)
        selected = expanded
    sys.argv[2:] = selected
    if any(t.startswith("QemuVmTest") for t in selected) and not shutil.which("qemu-system-x86_64"):
        print("SKIP: qemu-system-x86_64 is not installed")
        sys.exit(77)
    if any(t.startswith("ProviderConfigTest") for t in selected) and yaml is None:
        print("SKIP: python3-yaml is not installed")
        sys.exit(77)
    if any(t.split(".")[0] in ("LauncherTest", "QemuVmTest", "ConsoleProxyTest")
           for t in selected):
        if libvirt is None:
            print("SKIP: python3-libvirt is not installed")
            sys.exit(77)
        if os.geteuid() != 0 or not shutil.which("libvirtd"):
            print("SKIP: needs root and libvirtd (libvirt-daemon-system) for a private libvirtd")
            sys.exit(77)
    if not BUILD or not os.path.exists(f"{BUILD}/launcher/osvdi-launcher"):
        print("usage: test_launcher.py BUILD_DIR (with the launcher built)")
        sys.exit(2)
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[2:])
