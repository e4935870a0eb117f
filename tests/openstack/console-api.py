#!/usr/bin/env python3
# OSVDI - Nova's console API as its clients call it (runs in the root).
# SPDX-License-Identifier: Apache-2.0
#
#   console-api.py spice-direct SERVER
#       what a SPICE proxy (Kerbside) does: POST /servers/SERVER/remote-consoles
#       {"protocol": "spice", "type": "spice-direct"} at microversion 2.99,
#       then GET /os-console-auth-tokens/TOKEN (2.99: the SPICE ports);
#       prints one JSON object: the token's url, host, port, tls_port
#   console-api.py spice-html5 SERVER
#       the same POST for "spice-html5" (what `openstack console url show
#       --spice` asks for); prints {"url": ...}
#
# On an API error it prints {"status": HTTP code, "message": Nova's text}
# and exits 3, so that the caller can tell "not ready" (409) from "no such
# console" (400) from a crash.  Credentials: the usual OS_* variables
# (password authentication, project scope).  Python's standard library only.
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

MICROVERSION = "2.99"


def request(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.headers, json.loads(r.read() or b"{}")


def keystone():
    env = os.environ
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": env["OS_USERNAME"], "password": env["OS_PASSWORD"],
            "domain": {"name": env.get("OS_USER_DOMAIN_NAME", "Default")}}}},
        "scope": {"project": {
            "name": env["OS_PROJECT_NAME"],
            "domain": {"name": env.get("OS_PROJECT_DOMAIN_NAME", "Default")}}}}}
    headers, doc = request("POST", env["OS_AUTH_URL"].rstrip("/") + "/auth/tokens",
                           body)
    region = env.get("OS_REGION_NAME")
    for svc in doc["token"]["catalog"]:
        if svc["type"] != "compute":
            continue
        for ep in svc["endpoints"]:
            if ep["interface"] == "public" and (not region or ep.get("region") == region):
                return headers["X-Subject-Token"], ep["url"].rstrip("/")
    sys.exit("no public compute endpoint in the catalog")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("spice-direct", "spice-html5"):
        sys.exit("usage: console-api.py spice-direct|spice-html5 SERVER")
    kind, server = sys.argv[1], sys.argv[2]
    token, compute = keystone()
    hdr = {"X-Auth-Token": token, "OpenStack-API-Version": "compute " + MICROVERSION,
           "X-OpenStack-Nova-API-Version": MICROVERSION}
    try:
        _, doc = request("POST", "%s/servers/%s/remote-consoles" % (compute, server),
                         {"remote_console": {"protocol": "spice", "type": kind}}, hdr)
        url = doc["remote_console"]["url"]
        out = {"url": url}
        if kind == "spice-direct":
            # The token is the URL's query parameter, as a proxy reads it.
            q = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
            tok = q["token"][0]
            _, doc = request("GET", "%s/os-console-auth-tokens/%s" % (
                compute, urllib.parse.quote(tok, safe="")), None, hdr)
            c = doc["console"]
            out.update(host=c.get("host"), port=c.get("port"),
                       tls_port=c.get("tls_port"),
                       instance_uuid=c.get("instance_uuid"))
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")
        try:
            err = json.loads(text)
            msg = next(iter(err.values())).get("message", text)
        except (ValueError, AttributeError, StopIteration):
            msg = text
        print(json.dumps({"status": e.code, "message": msg}))
        sys.exit(3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
