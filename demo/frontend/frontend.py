"""The demo shop's frontend: a mesh-unaware Python (stdlib only) web app.

It knows nothing about Weft. It listens on $PORT and, for each page, calls
two services by name: catalog (what the product is) and ratings (its
stars). How it reaches them is whatever its environment says, as for any
twelve-factor app: $WEFT_UPSTREAM_CATALOG / $WEFT_UPSTREAM_RATINGS (a local
address bound to that service), else http://catalog/ through $HTTP_PROXY.
It passes on the caller's x-user header, as apps that take part in
user-based routing do.
"""

import http.client
import json
import os
import signal
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PASSED_ON = ("x-user", "x-request-id")
TIMEOUT = 5.0


def upstream(name):
    """Where to connect for service name, and the request target to send."""
    local = os.environ.get("WEFT_UPSTREAM_" + name.upper())
    if local:
        return local, ""
    proxy = os.environ.get("HTTP_PROXY") or os.environ.get("http_proxy")
    if proxy:
        return urllib.parse.urlsplit(proxy).netloc, "http://" + name
    return name + ":80", ""


UPSTREAMS = {n: upstream(n) for n in ("catalog", "ratings")}
local = threading.local()


def call(name, path, headers):
    """GET path on service name over a kept-alive connection per thread."""
    addr, prefix = UPSTREAMS[name]
    conns = local.__dict__.setdefault("conns", {})
    for attempt in (1, 2):
        conn = conns.get(name)
        if conn is None:
            host, _, port = addr.rpartition(":")
            conn = conns[name] = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
        try:
            conn.request("GET", prefix + path, headers=dict(headers, Host=name))
            resp = conn.getresponse()
            body = resp.read()
            return resp.status, body
        except (OSError, http.client.HTTPException):
            # A kept-alive connection the other side closed: one fresh try.
            conn.close()
            conns.pop(name, None)
            if attempt == 2:
                raise


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm the
    # second waits for the caller's delayed ACK (40 ms on Linux).
    disable_nagle_algorithm = True

    def do_GET(self):
        if self.path == "/healthz":
            return self.reply(200, {"ok": True})
        product = self.path.rstrip("/").rsplit("/", 1)[-1] or "1"
        headers = {h: self.headers[h] for h in PASSED_ON if self.headers.get(h)}
        try:
            status, body = call("catalog", "/items/" + product, headers)
        except Exception as e:  # the page cannot be made without its product
            return self.reply(502, {"error": "catalog: %s" % e})
        if status != 200:
            return self.reply(502, {"error": "catalog answered %d" % status})
        page = {"product": product, "served_by": "frontend (python)", "catalog": json.loads(body)}
        try:
            status, body = call("ratings", "/ratings/" + product, headers)
            page["ratings"] = json.loads(body) if status == 200 else None
        except Exception:
            page["ratings"] = None  # a page without stars is still a page
        self.reply(200, page)

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main():
    port = int(os.environ.get("PORT", "8080"))
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("frontend (python %s) on 127.0.0.1:%d, catalog via %s, ratings via %s"
          % (sys.version.split()[0], port, UPSTREAMS["catalog"][0], UPSTREAMS["ratings"][0]), flush=True)
    try:
        srv.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass


if __name__ == "__main__":
    main()
