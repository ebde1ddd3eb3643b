#!/usr/bin/env bash
# sync-memory.sh: wall time and peak resident memory of a Google sync of N
# users (N/20 groups, 3N direct memberships) by the real commands, against
# the fake of Google's APIs in its own process (ldapgate-bench -fake-google),
# each call LATENCY slower. The figures of the README's sizing advice.
#
#   bench/sync-memory.sh                      # N=100000 LATENCY=20ms
#   N=10000 bench/sync-memory.sh
#   LDAPGATE_BIN=/tmp/ldapgate-main bench/sync-memory.sh   # another build (e.g. main's), to compare
#
# It measures, each under /usr/bin/time -v (peak RSS: "Maximum resident set
# size", the process alone; the fake runs apart):
#   sync first:      `ldapgate sync` into an empty store;
#   sync no-change:  `ldapgate sync` again (nothing to apply);
#   serve first:     `ldapgate serve` on an empty store until its start-up
#                    sync logs "sync done", then stopped (SIGTERM).
# and prints the phases of each run as the run record (sync history) and
# the log keep them, and the floor: the longest chain of pages that must
# be fetched one after another (each page's token comes with the page
# before), plus the token call, times LATENCY. Loopback only; every wait is
# bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

N=${N:-100000}
LATENCY=${LATENCY:-20ms}

work=$(mktemp -d)
fake=
serve=
cleanup() {
	[[ -n $serve ]] && kill "$serve" 2>/dev/null || true
	[[ -n $fake ]] && kill "$fake" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

bin=${LDAPGATE_BIN:-}
if [[ -z $bin ]]; then
	bin="$work/ldapgate"
	go build -o "$bin" ./cmd/ldapgate
fi
go build -o "$work/ldapgate-bench" ./cmd/ldapgate-bench

"$work/ldapgate-bench" -fake-google "$work" -n "$N" -latency "$LATENCY" >"$work/fake.out" 2>"$work/fake.log" &
fake=$!
for _ in $(seq 1 600); do
	[[ -s $work/fake.out ]] && break
	kill -0 "$fake" 2>/dev/null || { cat "$work/fake.log" >&2; exit 1; }
	sleep 0.1
done
read -r url min_calls chain <"$work/fake.out" || { echo "the fake did not start" >&2; exit 1; }
lat_ms=$(awk -v l="$LATENCY" 'BEGIN { v = l + 0; if (l ~ /ms$/) print v; else if (l ~ /s$/) print v * 1000; else print v }')
floor=$(awk -v c="$chain" -v l="$lat_ms" 'BEGIN { printf "%.1f", (c + 1) * l / 1000 }')
echo "fake Google at $url: $N users; $min_calls list calls at the least; longest chain $chain pages + token x $LATENCY = floor ${floor} s"
cd "$work"

# timev file: "wall_s peak_MB" from /usr/bin/time -v's report.
timev() {
	awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i] }
		/Maximum resident set size/ { kb = $2 }
		END { printf "wall=%6.1f s  peak_rss=%5d MB", s, kb / 1024 }' "$1"
}

# run_phases: the phases of the last run, from its record.
run_phases() {
	"$bin" sync history -c ldapgate.yaml -n 1 --json 2>/dev/null | tr -d ' \n' |
		grep -o '"phases":{[^}]*}\|"counts":{[^}]*}' | tr '\n' ' ' || true
}

sync_once() { # label
	if ! /usr/bin/time -v -o "time.$1" "$bin" sync -c ldapgate.yaml >"sync.$1.out" 2>&1; then
		cat "sync.$1.out" >&2
		exit 1
	fi
	printf '%-16s %s  %s\n' "$1" "$(timev "time.$1")" "$(tail -1 "sync.$1.out")"
	printf '%-16s %s\n' "" "$(run_phases)"
}

sync_once sync-first
sync_once sync-no-change

rm -f ldapgate.db*
/usr/bin/time -v -o time.serve "$bin" serve -c ldapgate.yaml 2>serve.log &
serve=$!
done=0
for _ in $(seq 1 1800); do # 15 min
	if grep -q '"sync done"\|msg="sync done"\|sync failed' serve.log; then done=1; break; fi
	kill -0 "$serve" 2>/dev/null || break
	sleep 0.5
done
child=$(pgrep -P "$serve" | head -1 || true)
[[ -n $child ]] && kill "$child"
wait "$serve" 2>/dev/null || true
serve=
((done)) || { echo "serve's first sync did not end" >&2; tail serve.log >&2; exit 1; }
printf '%-16s %s\n' serve-first "$(timev time.serve)"
grep -o 'msg="sync done".*\|msg="sync failed".*' serve.log | head -1 | sed 's/^/                 /'
