# cluster-lib.sh: starting and stopping local gyre-server clusters for the
# measurement scripts (sourced, not run). Nodes listen on 127.0.0.<net><n>,
# client port $port, cluster port 1$port; data and logs under $root.
# Only the processes started here are signalled.
#
#   source scripts/cluster-lib.sh
#   cluster_start <net> <port> <nodes> [gyre-server flags...]  # waits until formed
#   cluster_stop                                              # kill -9 what it started
bin=${GYRE_BIN:-target/release/gyre-server}
[ -x "$bin" ] || cargo build --release -p gyre-server
root=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$root"; }
trap cleanup EXIT

cluster_start() {
  local net=$1 port=$2 nodes=$3
  shift 3
  pids=()
  rm -rf "${root:?}"/*
  for n in $(seq 1 "$nodes"); do
    local ip=127.0.0.$net$n args
    args=(--bind "$ip" --port "$port" --cluster-port "1$port" --dir "$root/n$n" "$@")
    [ "$n" -gt 1 ] && args+=(--join "127.0.0.${net}1:1$port")
    "$bin" "${args[@]}" >"$root/n$n.log" 2>&1 &
    pids+=($!)
    disown
    [ "$n" = 1 ] && sleep 0.5
  done
  for _ in $(seq 1 300); do
    local ok=0 info
    for n in $(seq 1 "$nodes"); do
      info=$(redis-cli -h "127.0.0.$net$n" -p "$port" cluster info 2>/dev/null || true)
      if grep -q "cluster_state:ok" <<<"$info" && grep -q "cluster_known_nodes:$nodes" <<<"$info" \
        && grep -q "gyre_slot_moves_in_progress:0" <<<"$info" && grep -q "gyre_slots_catching_up:0" <<<"$info" \
        && grep -q "gyre_raft_voters:$nodes" <<<"$info" && grep -q "gyre_raft_joint:0" <<<"$info"; then
        ok=$((ok + 1))
      fi
    done
    [ "$ok" = "$nodes" ] && return 0
    sleep 0.1
  done
  echo "the cluster did not form; logs in $root" >&2
  return 1
}

cluster_stop() {
  for p in "${pids[@]:-}"; do kill -9 "$p" 2>/dev/null || true; done
  pids=()
}
