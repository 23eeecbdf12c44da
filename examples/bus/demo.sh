#!/usr/bin/env bash
# A small fleet on loopback: one broker, three node daemons (web1, web2 in
# cluster alfa, web3 in bravo), then the fleet commands against them.
# Everything runs in a temp dir and is stopped on exit.
set -euo pipefail
ORCH=${ORCH:-$(cd "$(dirname "$0")/../.." && pwd)/bin/orch}
dir=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
port=$(( 20000 + RANDOM % 20000 ))
export ORCH_SERVER="nats://127.0.0.1:$port" ORCH_KEY="$dir/client.nk"

echo "== orch keygen (the operator's key)"
pub=$("$ORCH" keygen --out "$ORCH_KEY")
echo "$pub"

echo "== orch broker on 127.0.0.1:$port"
"$ORCH" broker --listen "127.0.0.1:$port" --store-dir "$dir/broker" --quiet >"$dir/broker.log" 2>&1 &
pids+=($!)

for n in web1:alfa web2:alfa web3:bravo; do
	id=${n%%:*} cluster=${n##*:}
	cat >"$dir/$id.hcl" <<HCL
identity  = "$id"
servers   = ["$ORCH_SERVER"]
data_dir  = "$dir/$id"
audit_log = "$dir/$id/audit.jsonl"
facts     = { cluster = "$cluster", cpus = 2 }
classes   = ["web"]
client "demo" { key = "$pub" }
HCL
done
for i in 1 2 3; do
	until "$ORCH" agent --config "$dir/web$i.hcl" --check >/dev/null 2>&1; do sleep 0.1; done
done
# Wait for the broker before starting the agents (they would retry anyway).
for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
for i in 1 2 3; do
	"$ORCH" agent --config "$dir/web$i.hcl" --log-level warn 2>>"$dir/web$i.log" &
	pids+=($!)
done
for _ in $(seq 100); do
	[ "$("$ORCH" discover 2>/dev/null | wc -l)" = 3 ] && break
	sleep 0.1
done

echo; echo "== orch ping -F cluster=alfa"
"$ORCH" ping -F cluster=alfa
echo; echo "== orch facts cluster"
"$ORCH" facts cluster
echo; echo "== orch rpc rpcutil get_fact fact=cluster -C web"
"$ORCH" rpc rpcutil get_fact fact=cluster -C web
echo; echo "== kill -9 web3, then orch ping: web3 is named as not answering"
kill -9 "${pids[3]}"
wait "${pids[3]}" 2>/dev/null || true
"$ORCH" ping --timeout 1s || echo "(exit $?, as expected)"
echo; echo "== last audit line of web1"
tail -1 "$dir/web1/audit.jsonl"
