#!/usr/bin/env python3
"""mTLS two-hop against plaintext, from one bench/run.sh run (OUT dir).

CPU per request (proxy CPU us, both hops) of weft-mtls 2-hop over weft-mesh
2-hop (the same receiving sidecar, plaintext) and over weft 2-hop (quick
mode), per concurrency; and, from the sidecars' /metrics saved at the end,
mTLS handshakes against mTLS connections and requests.
usage: mtlsreport.py OUT
"""
import csv, glob, os, re, statistics, sys

out = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(out, "results.tsv")), delimiter="\t"))


def med(proxy, hops, conns, field="cpu_us_per_req"):
    v = [float(r[field]) for r in rows
         if r["proxy"] == proxy and r["hops"] == str(hops) and r["conns"] == str(conns) and r[field] not in ("NA", "-", "")]
    return statistics.median(v) if v else float("nan")


for conns in sorted({int(r["conns"]) for r in rows}, reverse=True):
    m, p, q = med("weft-mtls", 2, conns), med("weft-mesh", 2, conns), med("weft", 2, conns)
    n = med("nginx", 2, conns)
    print("c%-3d cpu/req 2-hop: weft-mtls %.1f us, weft-mesh %.1f, weft %.1f, nginx %.1f | mtls/mesh %.2fx, mtls/weft %.2fx (target <= 1.3x) | rps mtls %.0f, mesh %.0f"
          % (conns, m, p, q, n, m / p, m / q, med("weft-mtls", 2, conns, "rps"), med("weft-mesh", 2, conns, "rps")))


def scrape(path):
    vals = {}
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        name_labels, value = line.rsplit(" ", 1)
        vals[name_labels] = float(value)
    return vals


def total(vals, name, *labels):
    return sum(v for k, v in vals.items()
               if (k == name or k.startswith(name + "{")) and all(l in k for l in labels))


hop1 = hop2 = None
for d in glob.glob(os.path.join(out, "run", "*")):
    y = os.path.join(d, "sidecar.yaml")
    if not os.path.exists(y) or not os.path.exists(os.path.join(d, "metrics.txt")):
        continue
    cfg = open(y).read()
    if "node: bench-mtls-up-1" in cfg:
        hop1 = scrape(os.path.join(d, "metrics.txt"))
    elif "node: bench-mtls-front-1" in cfg:
        hop2 = scrape(os.path.join(d, "metrics.txt"))
if not hop1 or not hop2:
    print("no /metrics from the mTLS sidecars (run/*/metrics.txt)")
    sys.exit(0)
conns = total(hop1, "weft_proxy_connections_total", 'listener="inbound/http"') - \
    total(hop1, "weft_inbound_plaintext_connections_total", 'outcome="served"')
server_hs = total(hop1, "weft_tls_handshakes_total", 'side="server"', 'result="ok"') + \
    total(hop1, "weft_tls_handshakes_total", 'side="server"', 'result="resumed"')
client_hs = total(hop2, "weft_tls_handshakes_total", 'side="client"', 'result="ok"')
refused = total(hop1, "weft_tls_handshakes_total", 'result="refused"') + total(hop2, "weft_tls_handshakes_total", 'result="refused"')
reqs = total(hop2, "weft_requests_total", 'reporter="source"')
print("handshakes: server %d, client %d, refused %d | mTLS connections %d | requests over mTLS %d (%.0f per handshake)"
      % (server_hs, client_hs, refused, conns, reqs, reqs / server_hs if server_hs else float("nan")))
