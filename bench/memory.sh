#!/usr/bin/env bash
# memory.sh: resident memory of `ldapgate serve` by directory size, for the
# sizing advice in the README ("Run as a service") and packaging's MemoryMax.
#
#   bench/memory.sh                  # SIZES="10000 100000" by default
#   SIZES=50000 bench/memory.sh
#
# For each size it generates a directory file (ldapgate-bench
# -gen-directory), then:
#   first start: `ldapgate serve` on an empty store (the start-up sync adds
#     every user), waits until it is idle, then runs DUR of searches by uid
#     (4 connections) and reports the resident set (VmRSS) and its peak
#     (VmHWM) from /proc;
#   restart: the same on the filled store (the start-up sync changes
#     nothing; the store is read into the view first).
# Loopback only; every wait is bounded. Needs ldapsearch (ldap-utils).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

SIZES=${SIZES:-"10000 100000"}
DUR=${DUR:-5s}
PORT=${PORT:-13489}
BASE=dc=example,dc=com
SVC_PW=bench-service-secret

work=$(mktemp -d)
pid=
cleanup() {
	[[ -n $pid ]] && kill "$pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/ldapgate" ./cmd/ldapgate
go build -o "$work/ldapgate-bench" ./cmd/ldapgate-bench
hash=$(printf '%s\n' "$SVC_PW" | "$work/ldapgate" password hash)

status() { # pid field -> MB
	awk -v f="$2:" '$1 == f { printf "%d", $2 / 1024 }' "/proc/$1/status"
}

# serve_and_measure label: starts ldapgate, waits for LDAP and for the
# start-up sync to end (idle under 5% of a CPU for 2 s), runs the searches,
# prints the figures, stops it.
serve_and_measure() {
	"$work/ldapgate" serve -c "$work/ldapgate.yaml" 2>"$work/ldapgate.log" &
	pid=$!
	local up=0
	for _ in $(seq 1 600); do
		if ldapsearch -x -H "ldap://127.0.0.1:$PORT" -b "" -s base -LLL 1.1 >/dev/null 2>&1; then up=1; break; fi
		sleep 0.1
	done
	((up)) || { echo "ldapgate did not come up" >&2; cat "$work/ldapgate.log" >&2; exit 1; }
	local idle=0
	for _ in $(seq 1 300); do
		t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
		sleep 1
		t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
		if (((t1 - t0) * 20 < $(getconf CLK_TCK))); then idle=$((idle + 1)); else idle=0; fi
		((idle >= 2)) && break
	done
	local idle_rss
	idle_rss=$(status "$pid" VmRSS)
	"$work/ldapgate-bench" -url "ldap://127.0.0.1:$PORT" -D "cn=archive,ou=services,$BASE" -w "$SVC_PW" \
		-base "$BASE" -mode search -filter '(uid=user%07d)' -n "$1" -c 4 -d "$DUR" >/dev/null
	printf '%-8s %-12s rss_idle=%4d MB  rss_after_searches=%4d MB  peak(VmHWM)=%4d MB\n' \
		"$1" "$2" "$idle_rss" "$(status "$pid" VmRSS)" "$(status "$pid" VmHWM)"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=
}

for n in $SIZES; do
	rm -f "$work"/ldapgate.db*
	"$work/ldapgate-bench" -gen-directory -n "$n" >"$work/directory.json"
	cat >"$work/ldapgate.yaml" <<EOF
domain: example.com
source: {type: file, file: directory.json}
sync: {interval: 24h, max_delete_percent: 100}
store: {path: ldapgate.db}
ldap: {listen: 127.0.0.1:$PORT}
service_accounts:
  - name: archive
    password_hash: "$hash"
log: {level: warn}
EOF
	serve_and_measure "$n" "first-start"
	serve_and_measure "$n" "restart"
done
