#!/usr/bin/env bash
# pg-vs-sqlite.sh: ldapgate on PostgreSQL and on SQLite side by side, in
# one run on the same data (issue 14's figures).
#
#   bench/pg-vs-sqlite.sh              # 100,000 users, 3 rounds of 5 s per measurement
#   N=10000 DUR=2s ROUNDS=2 bench/pg-vs-sqlite.sh
#
# It builds ldapgate and ldapgate-bench, starts its own PostgreSQL (initdb in
# a temporary folder, listening only on a Unix socket there, durable
# settings; as the postgres user when run as root), generates a directory
# file of N users (ldapgate-bench -gen-directory), then:
#   sync: `ldapgate sync` of the file into an empty SQLite store and into an
#     empty PostgreSQL database, under /usr/bin/time -v (wall time, the
#     process's CPU and peak resident set), with the PostgreSQL server's CPU
#     time (postmaster, its children and reaped children, from /proc);
#   serve: `ldapgate serve` on each store, both at once pinned to CPU 0 (the
#     load generator on CPU 1), idle first; then, in ROUNDS rounds taking
#     the stores in turn, searches by uid and binds with an app password
#     (cmd/ldapgate-bench, as bench/compare-slapd.sh drives it), reporting
#     the server's CPU per operation (utime+stime from /proc/PID/stat before
#     and after, divided by the operations), and the PostgreSQL server's
#     during the same load.
# It prints both side by side with the ratio PostgreSQL/SQLite. Goals: sync
# time <= 1.5x and peak memory no higher; CPU per search and per bind within
# 5 %. Loopback only; every wait is bounded. Needs PostgreSQL's server
# binaries (apt-get install postgresql), ldapsearch (ldap-utils), GNU time
# (/usr/bin/time), taskset, setpriv and pgrep.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

N=${N:-100000}
DUR=${DUR:-5s}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-4}
PORT=${PORT:-13491}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BASE=dc=example,dc=com
SVC_DN=cn=archive,ou=services,$BASE
SVC_PW=bench-service-secret
BIND_USER=user0000001
BIND_DN=uid=$BIND_USER,ou=people,$BASE

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n | tail -1)
[[ -x $pgbin/postgres ]] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
command -v ldapsearch >/dev/null || { echo "ldapsearch is missing (apt-get install ldap-utils)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time is missing (apt-get install time)" >&2; exit 1; }

work=$(mktemp -d)
pgdir=$(mktemp -d) # the postgres user's, when root: not inside $work (mode 700)
pids=()
pg_pid=
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	if [[ -n $pg_pid ]]; then
		kill -INT "$pg_pid" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$pg_pid" 2>/dev/null || break; sleep 0.1; done
	fi
	wait 2>/dev/null || true
	rm -rf "$work" "$pgdir"
}
trap cleanup EXIT

# PostgreSQL refuses to run as root.
as_pg() {
	if ((EUID == 0)); then setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; else "$@"; fi
}
((EUID == 0)) && chown postgres: "$pgdir"

echo "building" >&2
go build -o "$work/ldapgate" ./cmd/ldapgate
go build -o "$work/ldapgate-bench" ./cmd/ldapgate-bench
"$work/ldapgate-bench" -gen-directory -n "$N" >"$work/directory.json"

echo "starting PostgreSQL ($pgbin)" >&2
as_pg "$pgbin/initdb" -D "$pgdir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg "$pgbin/postgres" -D "$pgdir/data" -k "$pgdir" -c listen_addresses= -c logging_collector=off \
	2>"$work/postgres.log" &
for _ in $(seq 1 300); do
	as_pg "$pgbin/pg_isready" -q -h "$pgdir" -U postgres && break
	sleep 0.1
done
as_pg "$pgbin/pg_isready" -q -h "$pgdir" -U postgres || { echo "PostgreSQL did not come up" >&2; cat "$work/postgres.log" >&2; exit 1; }
pg_pid=$(head -1 "$pgdir/data/postmaster.pid")
as_pg "$pgbin/psql" -q -h "$pgdir" -U postgres -c 'CREATE DATABASE ldapgate' postgres

tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# pg_ticks: the PostgreSQL server's CPU time so far, in clock ticks.
pg_ticks() {
	local t
	t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pg_pid/stat")
	for c in $(pgrep -P "$pg_pid"); do
		t=$((t + $(cpu_ticks "$c" 2>/dev/null || echo 0)))
	done
	echo "$t"
}
secs() { awk -v t="$1" -v k="$tck" 'BEGIN { printf "%.2f", t / k }'; }

hash=$(printf '%s\n' "$SVC_PW" | "$work/ldapgate" password hash)
for store in sqlite postgres; do
	if [[ $store == sqlite ]]; then
		conf="store: {path: sqlite.db}"
	else
		conf="store: {driver: postgres, dsn: \"host=$pgdir user=postgres dbname=ldapgate\"}"
	fi
	cat >"$work/$store.yaml" <<EOF
domain: example.com
source: {type: file, file: directory.json}
sync: {interval: 24h, max_delete_percent: 100}
$conf
ldap: {listen: 127.0.0.1:$PORT}
service_accounts:
  - name: archive
    password_hash: "$hash"
binds: [app_password]
log: {level: warn}
EOF
done

declare -A res
# First syncs, one after the other.
for store in sqlite postgres; do
	echo "syncing $N users into $store" >&2
	n0=$(pgrep -c -P "$pg_pid")
	p0=$(pg_ticks)
	/usr/bin/time -v -o "$work/$store.time" "$work/ldapgate" sync -c "$work/$store.yaml" >/dev/null
	# The sync's backends end after it does; their time counts once reaped.
	for _ in $(seq 1 100); do (($(pgrep -c -P "$pg_pid") <= n0)) && break; sleep 0.1; done
	p1=$(pg_ticks)
	res[$store,wall]=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }' "$work/$store.time")
	res[$store,cpu]=$(awk -F': ' '/User time/ { u = $2 } /System time/ { s = $2 } END { printf "%.2f", u + s }' "$work/$store.time")
	res[$store,rss]=$(awk -F': ' '/Maximum resident set size/ { printf "%d", $2 / 1024 }' "$work/$store.time")
	res[$store,pgcpu]=$(secs $((p1 - p0)))
done
# What autovacuum would do within a minute of the load, done now so that it
# does not land in the measurements of the searches.
as_pg "$pgbin/psql" -q -h "$pgdir" -U postgres -c 'VACUUM ANALYZE' ldapgate

wait_ldap() { # url
	for _ in $(seq 1 600); do
		ldapsearch -x -H "$1" -b "" -s base -LLL 1.1 >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "server at $1 did not come up" >&2
	return 1
}

# measure STORE MODE [ldapgate-bench flags...]: adds to the store's totals.
measure() {
	local store=$1 mode=$2
	shift 2
	local pid=${res[$store,pid]} c0 c1 p0 p1 out
	c0=$(cpu_ticks "$pid")
	p0=$(pg_ticks)
	out=$(taskset -c "$CLIENT_CPU" "$work/ldapgate-bench" -url "ldap://127.0.0.1:${res[$store,port]}" -mode "$mode" "$@")
	c1=$(cpu_ticks "$pid")
	p1=$(pg_ticks)
	printf '%-9s %-7s %s\n' "$store" "$mode" "$out" >&2
	res[$store,$mode,ops]=$((${res[$store,$mode,ops]:-0} + $(sed -n 's/.* ops=\([0-9]*\) .*/\1/p' <<<"$out")))
	res[$store,$mode,ticks]=$((${res[$store,$mode,ticks]:-0} + c1 - c0))
	res[$store,$mode,pgticks]=$((${res[$store,$mode,pgticks]:-0} + p1 - p0))
}
per_op() { awk -v d="$1" -v t="$tck" -v n="$2" 'BEGIN { printf "%.1f", (n > 0) ? d / t / n * 1e6 : 0 }'; }

# Both serve at once, on the same CPU, loaded in turn: ROUNDS rounds of
# each workload on each, so that a drift in the machine's other load
# touches both alike.
port=$PORT
for store in sqlite postgres; do
	sed -i "s/^ldap: .*/ldap: {listen: 127.0.0.1:$port}/" "$work/$store.yaml"
	res[$store,port]=$port
	port=$((port + 1))
	res[$store,pw]=$("$work/ldapgate" app-password create "$BIND_USER@example.com" --name bench -c "$work/$store.yaml" 2>/dev/null)
	taskset -c "$SERVER_CPU" "$work/ldapgate" serve -c "$work/$store.yaml" 2>"$work/$store.log" &
	res[$store,pid]=$!
	pids+=("$!")
	wait_ldap "ldap://127.0.0.1:${res[$store,port]}" || { cat "$work/$store.log" >&2; exit 1; }
done
# serve syncs at start (nothing changes); measuring starts once both are
# idle (under 5% of a CPU for two seconds running).
idle=0
for _ in $(seq 1 300); do
	t0=$(($(cpu_ticks "${res[sqlite,pid]}") + $(cpu_ticks "${res[postgres,pid]}")))
	sleep 1
	t1=$(($(cpu_ticks "${res[sqlite,pid]}") + $(cpu_ticks "${res[postgres,pid]}")))
	if (((t1 - t0) * 20 < tck)); then idle=$((idle + 1)); else idle=0; fi
	((idle >= 2)) && break
done
for store in sqlite postgres; do # warm up: the first search builds the tree
	"$work/ldapgate-bench" -url "ldap://127.0.0.1:${res[$store,port]}" -D "$SVC_DN" -w "$SVC_PW" -base "$BASE" \
		-mode search -n "$N" -c 1 -d 2s >/dev/null
done
for round in $(seq 1 "$ROUNDS"); do
	echo "round $round of $ROUNDS" >&2
	for store in sqlite postgres; do
		measure "$store" search -D "$SVC_DN" -w "$SVC_PW" -base "$BASE" -n "$N" -c "$CONNS" -d "$DUR"
		measure "$store" bind -D "$BIND_DN" -w "${res[$store,pw]}" -c "$CONNS" -d "$DUR"
	done
done
for store in sqlite postgres; do
	for mode in search bind; do
		res[$store,$mode,cpu]=$(per_op "${res[$store,$mode,ticks]}" "${res[$store,$mode,ops]}")
		res[$store,$mode,pgcpu]=$(per_op "${res[$store,$mode,pgticks]}" "${res[$store,$mode,ops]}")
	done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf (b > 0) ? "%.2f" : "n/a", a / b }'; }
echo
echo "$N users; serve on CPU $SERVER_CPU, generator on CPU $CLIENT_CPU, $CONNS connections, $ROUNDS rounds of $DUR per workload and store"
printf '%-34s | %10s | %10s | %s\n' "" sqlite postgres "postgres/sqlite"
row() { # label key
	printf '%-34s | %10s | %10s | %s\n' "$1" "${res[sqlite,$2]}" "${res[postgres,$2]}" "$(ratio "${res[postgres,$2]}" "${res[sqlite,$2]}")"
}
row "first sync, wall (s)" wall
row "first sync, ldapgate CPU (s)" cpu
row "first sync, ldapgate peak RSS (MB)" rss
printf '%-34s | %10s | %10s |\n' "first sync, PostgreSQL CPU (s)" - "${res[postgres,pgcpu]}"
row "search: ldapgate CPU/op (us)" search,cpu
row "bind: ldapgate CPU/op (us)" bind,cpu
row "search: operations" search,ops
row "bind: operations" bind,ops
printf '%-34s | %10s | %10s |\n' "search: PostgreSQL CPU/op (us)" - "${res[postgres,search,pgcpu]}"
printf '%-34s | %10s | %10s |\n' "bind: PostgreSQL CPU/op (us)" - "${res[postgres,bind,pgcpu]}"
