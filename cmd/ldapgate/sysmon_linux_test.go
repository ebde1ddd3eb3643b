package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ldapgate/ldapgate/internal/pgtest"
)

// TestMain lets a test start this binary as the ldapgate command: with
// runMainEnv set, it runs main instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
	}
	os.Exit(pgtest.Main(m)) // stops the PostgreSQL server a test started
}

const runMainEnv = "LDAPGATE_TEST_RUN_MAIN"

func TestWithSysmonSetting(t *testing.T) {
	cases := []struct {
		name    string
		in      []string
		godebug string // "" when the environment must be left as it is
	}{
		{"no GODEBUG", []string{"PATH=/bin"}, sysmonSetting},
		{"empty GODEBUG", []string{"GODEBUG=", "PATH=/bin"}, sysmonSetting},
		{"other settings kept", []string{"GODEBUG=madvdontneed=1,gctrace=1"}, "madvdontneed=1,gctrace=1," + sysmonSetting},
		{"operator's schedtrace", []string{"GODEBUG=gctrace=1,schedtrace=1000"}, ""},
		{"operator's schedtrace=0", []string{"GODEBUG=schedtrace=0"}, ""},
		{"a longer name is not schedtrace", []string{"GODEBUG=xschedtrace=5"}, "xschedtrace=5," + sysmonSetting},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, ok := withSysmonSetting(slices.Clone(c.in))
			if c.godebug == "" {
				if ok || !slices.Equal(out, c.in) {
					t.Fatalf("got %q, %v; want the environment unchanged", out, ok)
				}
				return
			}
			if !ok {
				t.Fatal("not changed")
			}
			var godebugs, others []string
			for _, kv := range out {
				if v, found := strings.CutPrefix(kv, "GODEBUG="); found {
					godebugs = append(godebugs, v)
				} else {
					others = append(others, kv)
				}
			}
			if len(godebugs) != 1 || godebugs[0] != c.godebug {
				t.Fatalf("GODEBUG = %q, want %q", godebugs, c.godebug)
			}
			wantOthers := slices.DeleteFunc(slices.Clone(c.in), func(kv string) bool { return strings.HasPrefix(kv, "GODEBUG=") })
			if !slices.Equal(others, wantOthers) {
				t.Fatalf("other variables %q, want %q", others, wantOthers)
			}
		})
	}
}

// TestServeKeepsSysmonAwake runs `ldapgate serve` as its own process: it
// must execute itself once with the setting (same process, same
// arguments), then serve, and leave an operator's schedtrace alone.
func TestServeKeepsSysmonAwake(t *testing.T) {
	for _, preset := range []string{"", "schedtrace=0"} {
		t.Run("GODEBUG="+preset, func(t *testing.T) {
			cfgPath, _ := demoSetup(t)
			cmd := exec.Command(os.Args[0], "serve", "-c", cfgPath)
			cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
				return strings.HasPrefix(kv, "GODEBUG=")
			}), runMainEnv+"=1")
			if preset != "" {
				cmd.Env = append(cmd.Env, "GODEBUG="+preset)
			}
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			serving := make(chan bool, 1)
			go func() {
				sc := bufio.NewScanner(stderr)
				found := false
				for sc.Scan() {
					if !found && strings.Contains(sc.Text(), "serving LDAP") {
						found = true
						serving <- true
					}
				}
				exited <- cmd.Wait()
			}()
			select {
			case <-serving:
			case err := <-exited:
				t.Fatalf("serve exited before serving LDAP: %v", err)
			case <-time.After(60 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatal("serve did not start serving LDAP")
			}

			environ, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/environ")
			if err != nil {
				t.Fatal(err)
			}
			var godebug []string
			for kv := range bytes.SplitSeq(environ, []byte{0}) {
				if v, ok := bytes.CutPrefix(kv, []byte("GODEBUG=")); ok {
					godebug = append(godebug, string(v))
				}
			}
			want := sysmonSetting
			if preset != "" {
				want = preset
			}
			if len(godebug) != 1 || godebug[0] != want {
				t.Errorf("serving process has GODEBUG %q, want %q", godebug, want)
			}
			cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/cmdline")
			if err != nil {
				t.Fatal(err)
			}
			if args := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00"); !slices.Equal(args[1:], cmd.Args[1:]) {
				t.Errorf("serving process has arguments %q, want %q", args[1:], cmd.Args[1:])
			}

			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("serve did not stop cleanly: %v", err)
				}
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatal("serve did not stop on SIGTERM")
			}
		})
	}
}
