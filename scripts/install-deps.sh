#!/usr/bin/env bash
# The one list of Debian packages the test suite needs, installed only when
# missing. Go modules come through `go` itself.
#   prometheus: Debian's Prometheus server (2.42 in bookworm), run by the
#     e2e test that checks PromQL and the Grafana dashboard's queries
#     against a live mesh (test/e2e/prometheus_test.go)
#   etcd-server: an external, older (3.4) etcd for the store conformance tests
#   iproute2, iptables: `weft run --capture` and its e2e tests (network
#     namespaces, veth pairs, REDIRECT); installed only when running as root,
#     since those tests need root anyway and skip without it
#   chromium: the web dashboard's e2e test drives it headless (chromedp)
# Not needed by tests, only to regenerate internal/xds/envoypb after editing
# a .proto file (scripts/gen-xds-proto.sh installs them itself when missing):
#   protobuf-compiler, libprotobuf-dev
set -euo pipefail
need=()
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ "$(id -u)" = 0 ]; then
  command -v ip >/dev/null 2>&1 || need+=(iproute2)
  command -v iptables >/dev/null 2>&1 || need+=(iptables)
fi
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: missing ${need[*]}; run as root or: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "install-deps: apt-get install ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
