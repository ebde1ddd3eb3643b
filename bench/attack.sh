#!/usr/bin/env bash
# attack.sh: the resource-fairness probe of issue 12. It builds ldapgate,
# syncs a directory of N users into a fresh store, serves it with the
# default limits on a loopback port, and runs bench/attack: each attack in
# turn (at the issue's sizes times SCALE, DUR each) while a well-behaved
# client connects, binds, searches and unbinds 10 times a second. It prints
# one line per attack: the good client's tries, failures and search
# latency (p50, p99, max), the server's peak and final RSS, and what became
# of the attacker's connections.
#
#   bench/attack.sh                          # 100,000 users, 20 s per attack
#   N=10000 DUR=10s SCALE=0.5 bench/attack.sh
#   ATTACKS=idle,slowloris SPREAD=8 bench/attack.sh   # attacker on 8 addresses
#   LDAPGATE_BIN=/path/to/ldapgate bench/attack.sh      # another build
#
# Loopback only: the server listens on 127.0.0.1, the good client connects
# from 127.0.0.1, the attacker from 127.0.0.2 (and up, with SPREAD).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-100000}
DUR=${DUR:-20s}
SCALE=${SCALE:-1}
SPREAD=${SPREAD:-1}
ATTACKS=${ATTACKS:-none,basedn,partial,partial-bound,idle,slowloris}
PORT=${PORT:-13389}
SVC_PW=bench-service-secret
export PATH="$PATH:/usr/local/go/bin"

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "building" >&2
if [[ -n ${LDAPGATE_BIN:-} ]]; then # a prebuilt ldapgate, e.g. of another commit
	cp "$LDAPGATE_BIN" "$work/ldapgate"
else
	go build -o "$work/ldapgate" ./cmd/ldapgate
fi
go build -o "$work/ldapgate-bench" ./cmd/ldapgate-bench
go build -o "$work/attack" ./bench/attack
"$work/ldapgate-bench" -gen-directory -n "$N" >"$work/directory.json"

hash=$(printf '%s\n' "$SVC_PW" | "$work/ldapgate" password hash)
cat >"$work/ldapgate.yaml" <<CONF
domain: example.com
source: {type: file, file: directory.json}
sync: {interval: 24h, max_delete_percent: 100}
store: {path: ldapgate.db}
ldap: {listen: 127.0.0.1:$PORT}
service_accounts:
  - name: archive
    password_hash: "$hash"
log: {level: warn}
CONF
echo "syncing $N users" >&2
"$work/ldapgate" sync -c "$work/ldapgate.yaml" >/dev/null
ulimit -n "$(ulimit -Hn)"
"$work/ldapgate" serve -c "$work/ldapgate.yaml" 2>"$work/ldapgate.log" &
pid=$!
pids+=("$pid")
for _ in $(seq 1 600); do
	(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
	sleep 0.1
done
# serve syncs at start; the attacks start once it is idle (under 5% of a
# CPU for two seconds running).
idle=0
for _ in $(seq 1 300); do
	t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
	sleep 1
	t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
	if (((t1 - t0) * 20 < $(getconf CLK_TCK))); then idle=$((idle + 1)); else idle=0; fi
	((idle >= 2)) && break
done
echo "ldapgate serving $N users, RSS $(awk '/VmRSS/ {print int($2/1024) "M"}' "/proc/$pid/status")" >&2
"$work/attack" -addr "127.0.0.1:$PORT" -pid "$pid" -attack "$ATTACKS" -duration "$DUR" -scale "$SCALE" \
	-spread "$SPREAD" -svc-pw "$SVC_PW"
echo "ldapgate log: $(wc -l <"$work/ldapgate.log") lines, $(wc -c <"$work/ldapgate.log") bytes; by level and message:" >&2
sed -E 's/.*level=([A-Z]+) msg="?([^"=]*)"?.*/\1 \2/' "$work/ldapgate.log" | sort | uniq -c | sort -rn | head -8 >&2
