#!/usr/bin/env bash
# One weft hop for the harness's "multiplexed" variant: a hop whose upstream
# is another weft (not the harness backend on 19000) speaks multiplexed
# HTTP/2 to it; the hop next to the backend speaks HTTP/1.1 to the backend.
weft=$1 listen=$2 upport=$3
proto=http2
[ "$upport" = "${BACKEND_PORT:-19000}" ] && proto=http
exec "$weft" proxy --listen "$listen" --upstream "127.0.0.1:$upport" --upstream-protocol "$proto"
