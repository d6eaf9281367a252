#!/bin/sh
# Instructions Miroir executes per search, all its threads, user space: one request core on the
# epoll driver (callgrind does not follow io_uring), S=1 in front of the harness's canned 10-hit
# upstream (`canned_upstream`). Counts are zeroed after a warm-up and dumped after a bounded wrk
# run; the total is divided by the requests wrk completed. The kernel's share (≈ 2/3 of Miroir's
# CPU in `search_proxy`) is not in this number; it is the user-space cost, without noise.
# Usage: [NODES=3 SHARDS=9] perf/request_icount.sh [SECONDS]   (needs valgrind, wrk, curl, python3)
# NODES=N spreads SHARDS shards over N canned upstreams (the fan-out and merge of N answers);
# every node must hold a shard, which 3 shards on 3 nodes do not (`shards_spanning` in
# perf/src/lib.rs: 9 for 3 nodes).
set -eu
secs=${1:-10}
nodes=${NODES:-1}
shards=${SHARDS:-$nodes}
cargo build --release -q -p miroir -p miroir-perf
dir=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
listen="127.0.0.1:$(port)"
upstream_pids=""
node_entries=""
for n in $(seq 0 $((nodes - 1))); do
    up="127.0.0.1:$(port)"
    target/release/canned_upstream "$up" > /dev/null &
    upstream_pids="$upstream_pids $!"
    node_entries="$node_entries
[[nodes]]
id = \"node-$n\"
address = \"http://$up\""
done
cat > "$dir/miroir.toml" <<TOML
[server]
listen = "$listen"
metrics_listen = "127.0.0.1:$(port)"
cores = 1
io = "epoll"
[auth]
node_master_key = "perf-node-master-key-0123"
[cluster]
shards = $shards
[store]
path = "$dir/miroir.redb"
[log]
level = "warn"
$node_entries
TOML
valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out" \
    target/release/miroir serve --config "$dir/miroir.toml" 2> "$dir/valgrind.log" &
miroir_pid=$!
trap 'kill $miroir_pid $upstream_pids 2>/dev/null; rm -rf "$dir"' EXIT
tries=0
until curl -fs "http://$listen/_miroir/ready" > /dev/null; do
    tries=$((tries + 1)); [ $tries -lt 120 ] || { echo "miroir never became ready"; exit 1; }
    sleep 0.5
done
curl -fs "http://$listen/_miroir/topology" | python3 -c '
import json, sys
counts = [n["shard_count"] for n in json.load(sys.stdin)["nodes"]]
if min(counts) == 0:
    sys.exit(f"a node holds no shard (shards per node: {counts}); raise SHARDS")'
curl -fs -X POST "http://$listen/indexes" -H 'content-type: application/json' \
    -d '{"uid":"movies","primaryKey":"id"}' > /dev/null
printf 'wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n' \
    "'{\"q\":\"batman\",\"limit\":10}'" > "$dir/search.lua"
wrk -t1 -c4 -d3s -s "$dir/search.lua" "http://$listen/indexes/movies/search" > /dev/null
callgrind_control -z "$miroir_pid" > /dev/null 2>&1
requests=$(wrk -t1 -c4 -d"${secs}s" -s "$dir/search.lua" "http://$listen/indexes/movies/search" |
    sed -n 's/^ *\([0-9]*\) requests in.*/\1/p')
callgrind_control -d "$miroir_pid" > /dev/null 2>&1
sleep 1
total=$(cat "$dir"/callgrind.out* | sed -n 's/^summary: \([0-9]*\).*/\1/p' | awk '{s += $1} END {print s}')
echo "requests: $requests, instructions: $total, per request: $((total / requests))"
if [ "${KEEP_PROFILE:-}" ]; then cp "$dir"/callgrind.out* /tmp/ && echo "profiles copied to /tmp"; fi
