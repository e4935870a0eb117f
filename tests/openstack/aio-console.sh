# OSVDI - the console phases of the all-in-one test (OSVDI_AIO_PLAN=console,
# meson test openstack-console): users reach the desktop through Nova's
# console API (patch 0004). Sourced by aio-test.sh after its create phase,
# with its helpers and $id, $build, $tmp, $here set.
# SPDX-License-Identifier: Apache-2.0

# console_api KIND SERVER: tests/openstack/console-api.py in the root (the
# API as a proxy or Horizon calls it); its JSON on stdout, exit 3 on an API
# error (then the JSON has the status and Nova's message).
console_api () {
  aio_in env "${AIO_OS_ENV[@]}" python3 - "$@" < "$here/console-api.py"
}
json_get () { python3 -c 'import json, sys; v = json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2"; }

# listeners PORT: the local addresses on which a socket listens on PORT
# (/proc/net/tcp and tcp6 of this network namespace), one per line.
listeners () {
  python3 - "$1" <<'PY'
import socket, struct, sys
port = int(sys.argv[1])
for path, fam in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
    try:
        lines = open(path).read().splitlines()[1:]
    except OSError:
        continue
    for l in lines:
        f = l.split()
        addr, p = f[1].split(":")
        if f[3] != "0A" or int(p, 16) != port:
            continue
        raw = bytes.fromhex(addr)
        # the kernel prints each 32-bit word in host (little-endian) order
        raw = b"".join(struct.pack("<I", struct.unpack(">I", raw[i:i + 4])[0])
                       for i in range(0, len(raw), 4))
        print(socket.inet_ntop(fam, raw))
PY
}

# The API answers, for the console of $1: ready (a spice-direct token with
# the session's port), or the status and message it gave.
console_ready () {
  local out
  out=$(console_api spice-direct "$1") || return 1
  [ -n "$(json_get "$out" port)" ]
}

# expect_refused KIND SERVER STATUS TEXT: the API refuses KIND with STATUS
# and a message containing TEXT; `openstack console url show` says TEXT too.
expect_refused () {
  local kind=$1 server=$2 status=$3 text=$4 out rc=0 cli
  out=$(console_api "$kind" "$server") || rc=$?
  [ $rc = 3 ] || aio_die "$kind console of $server: exit $rc, not refused: $out"
  [ "$(json_get "$out" status)" = "$status" ] ||
    aio_die "$kind console of $server: not $status: $out"
  grep -qF -- "$text" <<< "$(json_get "$out" message)" ||
    aio_die "$kind console of $server: '$text' not in: $out"
  rc=0
  cli=$(aio_os console url show --spice "$server" 2>&1) || rc=$?
  [ $rc != 0 ] && grep -qF -- "$text" <<< "$cli" ||
    aio_die "openstack console url show --spice: exit $rc, '$text' not in: $cli"
  echo "$kind console of $server: $status, \"$(json_get "$out" message)\""
}

aio_console_phases () {
  local port out host dport t0 url addrs meta

  # --- proxy mode: the management address only, no ticket -------------------
  phase_begin proxy-mode
  port=$(vv_get "$id" port)
  grep -q "console=proxy: sessions on $AIO_MGMT_HOST without tickets" \
    "$tmp/launcher/launcher.log" || aio_die "the launcher did not log its console mode"
  addrs=$(listeners "$port")
  [ "$addrs" = "$AIO_MGMT_HOST" ] ||
    aio_die "port $port listens on '$(echo $addrs)', not only on $AIO_MGMT_HOST"
  ! vv_get "$id" password | grep -q . || aio_die "a ticket in proxy mode's .vv"
  meta=$(aio_in virsh -c qemu:///system metadata "$id" \
    "https://opendev.org/osvdi/xmlns/libvirt/1.0" 2>&1) || true
  grep -qE "console=[\"']proxy[\"']" <<< "$meta" ||
    aio_die "the domain's metadata does not say console='proxy': $meta"
  echo "$id: port $port on $addrs only, no ticket, console='proxy' in its metadata"
  phase_end proxy-mode

  # --- spice-direct, as Kerbside calls it --------------------------------------
  phase_begin spice-direct
  out=$(console_api spice-direct "$id") || aio_die "spice-direct console: $out"
  echo "spice-direct: $out"
  host=$(json_get "$out" host); dport=$(json_get "$out" port)
  [ "$host" = "$AIO_MGMT_HOST" ] && [ "$dport" = "$port" ] ||
    aio_die "the token leads to $host:$dport, not to the session $AIO_MGMT_HOST:$port"
  [ "$(json_get "$out" instance_uuid)" = "$id" ] || aio_die "the token is for another instance"
  picture_at "$host" "$dport"
  "$build/tests/osvdi-spice-type" --host "$host" --port "$dport" 'expr 6000 - 1\n'
  aio_wait "$id: keys through the spice-direct connection reached the guest (5999)" \
    60 console_has "$id" 5999
  phase_end spice-direct

  # --- the browser console: nova-spicehtml5proxy, spice-html5, Chromium -------
  phase_begin html5
  url=$(aio_os console url show --spice "$id" -f value -c url)
  echo "spice-html5 console: $url"
  case "$url" in
    "http://$AIO_MGMT_PEER:$AIO_HTML5_PORT/spice_auto.html?"*token=*) ;;
    *) aio_die "not nova-spicehtml5proxy's URL: $url" ;;
  esac
  aio_wait "nova-spicehtml5proxy listens" 60 aio_port_open_at "$AIO_MGMT_PEER" "$AIO_HTML5_PORT"
  aio_console_browser "$id" "$url"
  phase_end html5

  # --- while the VM reboots without a session: "not ready" --------------------
  phase_begin not-ready
  aio_launcher_stop "$tmp/launcher"
  aio_wait "$id: no pipeline without the launcher" 60 no_pipeline "$id"
  expect_refused spice-html5 "$id" 409 "is not ready"
  expect_refused spice-direct "$id" 409 "is not ready"
  t0=$(date +%s)
  aio_os server reboot --hard --wait "$id" >/dev/null
  expect_refused spice-direct "$id" 409 "is not ready"
  aio_launcher_start "$tmp/launcher" "$build/launcher/osvdi-launcher"
  aio_wait "$id: the console ready again" 120 console_ready "$id"
  out=$(console_api spice-direct "$id")
  aio_wait "$id: its .vv" 60 has_vv "$id"
  [ "$(json_get "$out" port)" = "$(vv_get "$id" port)" ] ||
    aio_die "the token's port $(json_get "$out" port) is not the new session's $(vv_get "$id" port)"
  picture_at "$(json_get "$out" host)" "$(json_get "$out" port)"
  echo "$id: console ready $(( $(date +%s) - t0 )) s after the reboot began, port $(json_get "$out" port)"
  phase_end not-ready

  # --- the launcher's default mode: tickets, no console for Nova --------------
  phase_begin direct-mode
  aio_launcher_stop "$tmp/launcher"
  aio_wait "$id: no pipeline without the launcher" 60 no_pipeline "$id"
  rm -f "$tmp/launcher/state/$id.vv"
  AIO_LAUNCHER_CONSOLE=direct AIO_LAUNCHER_ADDRESS=127.0.0.1 \
    aio_launcher_conf "$tmp/launcher" "$AIO_LIBVIRT_URI" "$PORT_MIN" "$PORT_MAX" \
    "$build/launcher/osvdi-pipeline" "$FLAVOR"
  SPICE_HOST=127.0.0.1
  aio_launcher_start "$tmp/launcher" "$build/launcher/osvdi-launcher"
  aio_wait "$id: one pipeline" 120 one_pipeline "$id"
  aio_wait "$id: its .vv" 60 has_vv "$id"
  expect_refused spice-html5 "$id" 400 "must run with [spice] console=proxy"
  port=$(vv_get "$id" port)
  for wrong in "" not-the-ticket "$(vv_get "$id" password | cut -c2-)"; do
    out=$("$build/tests/osvdi-spice-probe" --port "$port" ${wrong:+--password "$wrong"} \
      --seconds 8 $PATTERN) && aio_die "a client with ticket '$wrong' got in: $out"
    grep -q "no SPICE server answered on 127.0.0.1 port $port" <<< "$out" ||
      aio_die "ticket '$wrong': $out"
  done
  picture "$id"
  echo "$id: no, a wrong and a truncated ticket refused; the .vv ticket works"
  phase_end direct-mode
}

aio_port_open_at () { aio_in bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# aio_console_browser SERVER URL: the page in headless Chromium (on this
# host, across the management network to nova-spicehtml5proxy) shows the
# guest's picture; what is typed into it reaches the guest's shell.
aio_console_browser () {
  local shot=$build/tests/openstack-console-html5.png
  python3 "$here/console-browser.py" "$2" "$shot" 'expr 7000 - 7\n' \
    "$(console_log "$1")" 6993 $PATTERN ||
    aio_die "the browser console (last screenshot: $shot)"
  echo "screenshot: $shot"
}
