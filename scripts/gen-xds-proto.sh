#!/usr/bin/env bash
# Regenerates internal/xds/envoypb/*.pb.go from Weft's own .proto files of
# the Envoy messages the sidecar reads. The output is committed, so tests
# and CI never need protoc; run this only after editing a .proto file.
# Needs: protoc and the well-known types' .proto files (Debian
# protobuf-compiler and libprotobuf-dev, installed here when missing and
# running as root) and protoc-gen-go at the version go.mod pins.
set -euo pipefail
cd "$(dirname "$0")/.."
PROTOC_GEN_GO_VERSION=v1.36.12 # google.golang.org/protobuf in go.mod

need=()
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
[ -f /usr/include/google/protobuf/any.proto ] || need+=(libprotobuf-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "gen-xds-proto: missing ${need[*]}; run as root or: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
GOBIN="$bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@${PROTOC_GEN_GO_VERSION}"

# The import root is internal/xds, so the files register as
# "envoypb/*.proto": names no other registered file uses.
protoc --plugin=protoc-gen-go="$bin/protoc-gen-go" \
  --proto_path=internal/xds --proto_path=/usr/include \
  --go_out=internal/xds --go_opt=paths=source_relative \
  internal/xds/envoypb/*.proto
gofmt -l internal/xds/envoypb
echo "gen-xds-proto: regenerated internal/xds/envoypb"
