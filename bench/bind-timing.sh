#!/usr/bin/env bash
# bind-timing.sh: does the time a refused bind takes tell anything about the
# name? And what do 1,000 concurrent failed binds cost? Against the real
# `ldapgate serve` on the demo directory (all 50 users, suspended ones
# included), with the failed-bind limiter off so that every bind is checked
# (the worst case for both questions) and the default failure_delay.
#
#   bench/bind-timing.sh                 # 1000 binds per case, 8 at a time
#   PER=200 bench/bind-timing.sh
#   FLOOD=1000 FLOOD_DUR=30s bench/bind-timing.sh   # also the flood
#
# Part 1 (timing): PER refused binds of each case, interleaved, each on a new
# connection (cmd/ldapgate-bench -mode timing): a user's wrong ordinary
# password, a wrong app password for users with 1 and with 10 app passwords,
# an unknown name (plain and app-password-shaped), a suspended user, the
# service account's wrong password. It prints p50/p90/p99/max per case.
#
# Part 2 (flood, when FLOOD is set): FLOOD connections bind as the service
# account with a wrong password for FLOOD_DUR while a well-behaved client
# searches on 2 bound connections; it prints the searcher's p50/p99, the
# flood's answers (busy once the hash gate is full) and ldapgate's peak
# resident memory (VmHWM).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

PER=${PER:-1000}
C=${C:-8}
PORT=${PORT:-13489}
FLOOD=${FLOOD:-}
FLOOD_DUR=${FLOOD_DUR:-30s}
BASE=dc=example,dc=com
SVC_PW=bench-service-secret

work=$(mktemp -d)
pid=
cleanup() {
	[[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/ldapgate" ./cmd/ldapgate
go build -o "$work/ldapgate-bench" ./cmd/ldapgate-bench
cp configs/demo-directory.json "$work/directory.json"
hash=$(printf '%s\n' "$SVC_PW" | "$work/ldapgate" password hash)
cat >"$work/ldapgate.yaml" <<YAML
domain: example.com
source: {type: file, file: directory.json, filter: {include_suspended: true}}
sync: {interval: 24h, max_delete_percent: 100}
store: {path: ldapgate.db}
ldap:
  listen: 127.0.0.1:$PORT
  bind_limit: {per_name: -1, per_name_total: -1, per_address: -1}
service_accounts: [{name: archive, password_hash: "$hash"}]
binds: [app_password]
log: {level: error}
YAML
"$work/ldapgate" sync -c "$work/ldapgate.yaml" >/dev/null
"$work/ldapgate" app-password create alice@example.com -c "$work/ldapgate.yaml" --name one >/dev/null
for i in $(seq 10); do
	"$work/ldapgate" app-password create daniel.kim@example.com -c "$work/ldapgate.yaml" --name "ap$i" >/dev/null
done

"$work/ldapgate" serve -c "$work/ldapgate.yaml" 2>"$work/serve.log" &
pid=$!
for _ in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
	sleep 0.1
done

url=ldap://127.0.0.1:$PORT
wrong_ap=aaaa-bbbb-cccc-dddd
echo "== refused binds: $PER per case, $C at a time (limiter off, failure_delay default)"
"$work/ldapgate-bench" -url "$url" -mode timing -per "$PER" -c "$C" \
	-case "user-wrong-plain|uid=alice,ou=people,$BASE|Winter2026!" \
	-case "user-1-ap-wrong-ap|uid=alice,ou=people,$BASE|$wrong_ap" \
	-case "user-10-aps-wrong-ap|uid=daniel.kim,ou=people,$BASE|$wrong_ap" \
	-case "unknown-plain|uid=nobody,ou=people,$BASE|Winter2026!" \
	-case "unknown-ap|nobody@example.com|$wrong_ap" \
	-case "suspended-ap|mark.wilson@example.com|$wrong_ap" \
	-case "service-wrong|cn=archive,ou=services,$BASE|wrong"

if [[ -n $FLOOD ]]; then
	echo "== $FLOOD concurrent failed service account binds for $FLOOD_DUR, one client searching"
	"$work/ldapgate-bench" -url "$url" -mode timing -per 1000000 -c "$FLOOD" -d "$FLOOD_DUR" \
		-case "flood|cn=archive,ou=services,$BASE|wrong" &
	flood=$!
	sleep 2
	"$work/ldapgate-bench" -url "$url" -D "cn=archive,ou=services,$BASE" -w "$SVC_PW" -base "$BASE" \
		-mode search -filter '(uid=alice)' -c 2 -d "$(( ${FLOOD_DUR%s} - 4 ))s"
	wait "$flood"
	grep -E 'VmHWM|VmRSS' "/proc/$pid/status"
fi
