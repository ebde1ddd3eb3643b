package main

import (
	"os"
	"strings"
	"syscall"
)

// Go's sysmon thread goes into a deep sleep whenever every P is idle, and
// the next system call wakes it with a futex; it then polls every 20 µs
// until the Ps are idle again. An LDAP server under load goes idle and busy
// between almost every request, so each request paid for a thread wake-up,
// a 20 µs timer and two context switches on the server's core: 3–4 µs of a
// 20 µs search, 12 µs of a connect cycle (bench/compare-slapd.sh; the
// runtime has no setting for it, golang/go#18236). A schedtrace period keeps
// sysmon out of the deep sleep; its own back-off (sleeps growing to 10 ms
// while there is nothing to retake) still applies, so an idle ldapgate wakes
// it at most 100 times a second. The runtime reads GODEBUG only at start, so
// serve executes itself again, once, with the setting added. The period is
// the longest the runtime takes (24.8 days): that is how often the runtime
// writes one SCHED line to standard error.
const sysmonSetting = "schedtrace=2147483647"

// keepSysmonAwake replaces the process with itself, same arguments, with
// sysmonSetting in GODEBUG. It returns (and serve runs as it is) when
// GODEBUG already sets schedtrace, an operator's choice, or when the
// executable cannot be found or executed.
func keepSysmonAwake() {
	env, ok := withSysmonSetting(os.Environ())
	if !ok {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	_ = syscall.Exec(exe, os.Args, env)
}

// withSysmonSetting returns env with sysmonSetting appended to GODEBUG, and
// false if GODEBUG already sets schedtrace.
func withSysmonSetting(env []string) ([]string, bool) {
	out := make([]string, 0, len(env)+1)
	found := false
	for _, kv := range env {
		v, isGodebug := strings.CutPrefix(kv, "GODEBUG=")
		if !isGodebug {
			out = append(out, kv)
			continue
		}
		for setting := range strings.SplitSeq(v, ",") {
			if strings.HasPrefix(strings.TrimSpace(setting), "schedtrace=") {
				return env, false
			}
		}
		if strings.TrimSpace(v) != "" {
			v += ","
		}
		out = append(out, "GODEBUG="+v+sysmonSetting)
		found = true
	}
	if !found {
		out = append(out, "GODEBUG="+sysmonSetting)
	}
	return out, true
}
