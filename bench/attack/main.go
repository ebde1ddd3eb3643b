// Command attack is the probe of issue 12: it runs one attack at a time on
// a running ldapgate (loopback only) while a well-behaved client connects,
// binds as a service account and searches for a user ten times a second,
// and reports that client's failures and search latency, and the server's
// resident memory (VmRSS from /proc/PID/status) at its peak during the
// attack. bench/attack.sh builds, syncs and serves ldapgate and runs it.
//
// Attacks (sizes as in the issue, times -scale):
//
//	none       no attack: the good client alone, for the machine's own latency
//	basedn     1,020 anonymous searches with distinct 1 MB base DNs
//	partial    2,000 connections that send all but the last byte of a 1 MB message
//	partial-bound  the same after a successful bind (a leaked password)
//	idle       10,000 idle connections from one address
//	slowloris  4,096 connections from one address sending a message at 1 byte/s
//
// The good client runs in a process of its own. Every attack is bounded:
// it opens at most its count of connections and ends after -duration.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

type options struct {
	addr       string
	pid        int
	attacks    string
	duration   time.Duration
	scale      float64
	svcDN      string
	svcPW      string
	user       string
	goodFrom   string
	attackFrom string
	spread     int
	rate       int
}

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "127.0.0.1:13389", "ldapgate's LDAP listener (loopback)")
	flag.IntVar(&o.pid, "pid", 0, "ldapgate's process id, for its resident memory")
	flag.StringVar(&o.attacks, "attack", "none,basedn,partial,partial-bound,idle,slowloris", "attacks to run, comma-separated")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "how long each attack lasts")
	flag.Float64Var(&o.scale, "scale", 1, "factor on the attacks' sizes")
	flag.StringVar(&o.svcDN, "svc-dn", "cn=archive,ou=services,dc=example,dc=com", "the good client's bind DN")
	flag.StringVar(&o.svcPW, "svc-pw", "", "the good client's bind password")
	flag.StringVar(&o.user, "user", "user0000001", "uid the good client searches for")
	flag.StringVar(&o.goodFrom, "good-from", "127.0.0.1", "the good client's source address")
	flag.StringVar(&o.attackFrom, "attack-from", "127.0.0.2", "the attacker's (first) source address")
	flag.IntVar(&o.spread, "spread", 1, "attacker source addresses, from -attack-from upwards")
	flag.IntVar(&o.rate, "rate", 10, "good client tries per second")
	good := flag.Bool("good", false, "run only the good client for -duration and print its latencies (see goodProcess)")
	flag.Parse()
	if err := checkLoopback(o); err != nil {
		fmt.Fprintln(os.Stderr, "attack:", err)
		os.Exit(2)
	}
	if *good {
		ctx, cancel := context.WithTimeout(context.Background(), o.duration)
		defer cancel()
		lat, failed := goodClient(ctx, o)
		for _, d := range lat {
			fmt.Println(int64(d))
		}
		fmt.Printf("failed=%d\n", failed)
		return
	}
	fmt.Printf("%-10s %-34s %6s %6s %8s %8s %8s %9s %9s  %s\n",
		"attack", "size", "tries", "failed", "p50", "p99", "max", "rss_peak", "rss_end", "attack outcome")
	for _, name := range strings.Split(o.attacks, ",") {
		a, ok := attacks[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "attack: unknown attack %q\n", name)
			os.Exit(2)
		}
		run(o, name, a)
	}
}

func checkLoopback(o options) error {
	host, _, err := net.SplitHostPort(o.addr)
	if err != nil {
		return err
	}
	for _, a := range []string{host, o.goodFrom, o.attackFrom} {
		ip := net.ParseIP(a)
		if ip == nil || !ip.IsLoopback() || ip.To4() == nil {
			return fmt.Errorf("%q: only IPv4 loopback addresses", a)
		}
	}
	return nil
}

// attack runs until ctx is done and returns what happened to it.
type attack struct {
	size func(o options) string
	run  func(ctx context.Context, o options) string
}

var attacks = map[string]attack{
	"none": { // the good client alone: the machine's own latency
		size: func(o options) string { return "no attack" },
		run:  func(ctx context.Context, o options) string { <-ctx.Done(); return "" },
	},
	"basedn": {
		size: func(o options) string { return fmt.Sprintf("%d searches, 1 MB base DNs", n(o, 1020)) },
		run:  baseDNAttack,
	},
	"partial": {
		size: func(o options) string { return fmt.Sprintf("%d conns, 1 MB message less 1 byte", n(o, 2000)) },
		run:  partialAttack,
	},
	"partial-bound": {
		size: func(o options) string {
			return fmt.Sprintf("%d bound conns, 1 MB less 1 byte, %d addr", n(o, 2000), o.spread)
		},
		run: partialBoundAttack,
	},
	"idle": {
		size: func(o options) string { return fmt.Sprintf("%d idle conns from %d address(es)", n(o, 10000), o.spread) },
		run:  idleAttack,
	},
	"slowloris": {
		size: func(o options) string {
			return fmt.Sprintf("%d conns at 1 byte/s from %d address(es)", n(o, 4096), o.spread)
		},
		run: slowlorisAttack,
	},
}

func n(o options, base int) int { return max(1, int(float64(base)*o.scale)) }

// run runs one attack with the good client and the memory sampler beside it.
func run(o options, name string, a attack) {
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	var wg sync.WaitGroup
	var outcome string
	wg.Add(1)
	go func() {
		defer wg.Done()
		outcome = a.run(ctx, o)
	}()
	var peak int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, rss(o.pid))
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	lat, failed, err := goodProcess(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "attack: good client:", err)
		os.Exit(1)
	}
	wg.Wait()
	slices.Sort(lat)
	fmt.Printf("%-10s %-34s %6d %6d %8s %8s %8s %8dM %8dM  %s\n", name, a.size(o), len(lat)+failed, failed,
		pct(lat, 0.50), pct(lat, 0.99), pct(lat, 1), peak>>20, rss(o.pid)>>20, outcome)
}

func pct(lat []time.Duration, p float64) string {
	if len(lat) == 0 {
		return "-"
	}
	i := min(len(lat)-1, int(float64(len(lat))*p))
	return lat[i].Round(100 * time.Microsecond).String()
}

// rss returns the resident memory of pid in bytes, or 0.
func rss(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// goodProcess runs goodClient in a child process (this program with
// -good), so that the attack's goroutines and garbage do not delay the
// good client's measurements in the same Go runtime.
func goodProcess(ctx context.Context, o options) ([]time.Duration, int, error) {
	dl, _ := ctx.Deadline()
	cmd := exec.Command(os.Args[0], "-good", "-addr", o.addr, "-duration", time.Until(dl).String(),
		"-svc-dn", o.svcDN, "-svc-pw", o.svcPW, "-user", o.user, "-good-from", o.goodFrom, "-rate", strconv.Itoa(o.rate))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, 0, err
	}
	var lat []time.Duration
	failed := 0
	for _, line := range strings.Fields(string(out)) {
		if v, ok := strings.CutPrefix(line, "failed="); ok {
			failed, _ = strconv.Atoi(v)
			continue
		}
		ns, err := strconv.ParseInt(line, 10, 64)
		if err != nil {
			return nil, 0, fmt.Errorf("child output %q", line)
		}
		lat = append(lat, time.Duration(ns))
	}
	return lat, failed, nil
}

// goodClient connects, binds, searches for one user and unbinds, o.rate
// times a second, until ctx is done. It returns the latencies of the
// searches that succeeded and the number of tries that failed anywhere.
func goodClient(ctx context.Context, o options) (lat []time.Duration, failed int) {
	t := time.NewTicker(time.Second / time.Duration(o.rate))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return lat, failed
		case <-t.C:
		}
		d, err := goodTry(o)
		if err != nil {
			failed++
			if failed <= 3 {
				fmt.Fprintln(os.Stderr, "good client:", err)
			}
			continue
		}
		lat = append(lat, d)
	}
}

func goodTry(o options) (time.Duration, error) {
	dialer := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(o.goodFrom)}}
	c, err := ldap.DialURL("ldap://"+o.addr, ldap.DialWithDialer(dialer))
	if err != nil {
		return 0, fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	c.SetTimeout(5 * time.Second)
	if err := c.Bind(o.svcDN, o.svcPW); err != nil {
		return 0, fmt.Errorf("bind: %w", err)
	}
	start := time.Now()
	res, err := c.Search(ldap.NewSearchRequest("ou=people,dc=example,dc=com", ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 5, false, "(uid="+ldap.EscapeFilter(o.user)+")", []string{"*"}, nil))
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("search: %w", err)
	}
	if len(res.Entries) != 1 {
		return 0, fmt.Errorf("search: %d entries", len(res.Entries))
	}
	_ = c.Unbind()
	return d, nil
}

// dialAttacker connects from the i-th attacker address.
func dialAttacker(ctx context.Context, o options, i int) (net.Conn, error) {
	ip := net.ParseIP(o.attackFrom).To4()
	ip = net.IPv4(ip[0], ip[1], ip[2], ip[3]+byte(i%o.spread))
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: ip}}
	return d.DialContext(ctx, "tcp", o.addr)
}

// mb is the size of the attacks' base DNs: a megabyte, so that the
// message stays under the default ldap.max_message_bytes (1 MiB).
const mb = 1_000_000

// searchMsg is an LDAP search request with base base.
func searchMsg(id int64, base string) []byte {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 3, nil, "search")
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, base, "base"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, 0, "scope"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, 0, "deref"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 0, "size"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 0, "time"))
	op.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, false, "types"))
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 7, "objectClass", "present"))
	op.AppendChild(ber.NewSequence("attrs"))
	m := ber.NewSequence("LDAPMessage")
	m.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "id"))
	m.AppendChild(op)
	return m.Bytes()
}

// tally counts outcomes by name.
type tally struct {
	mu sync.Mutex
	m  map[string]int
}

func (t *tally) add(what string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]int{}
	}
	t.m[what]++
}

func (t *tally) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var parts []string
	for k, v := range t.m {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// answer reads what the server sends back on c until it closes the
// connection or timeout passes: "answered" (a response), "closed" (closed
// first), "open".
func answer(c net.Conn, timeout time.Duration) string {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	p, err := ber.ReadPacket(c)
	switch {
	case err == nil && len(p.Children) > 0 && p.Children[0].Value == int64(0):
		return "noticed+closed" // Notice of Disconnection
	case err == nil:
		return "answered"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "open"
	}
	return "closed"
}

func baseDNAttack(ctx context.Context, o options) string {
	total := n(o, 1020)
	var next atomic.Int64
	var t tally
	var wg sync.WaitGroup
	// One message, its base made distinct per search in place: encoding
	// a megabyte per search would cost the probe's own client more than
	// the server.
	tmpl := searchMsg(1, "cn="+strings.Repeat("x", mb)+",dc=example,dc=com")
	at := len(tmpl) / 2
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := slices.Clone(tmpl)
			for ctx.Err() == nil {
				i := next.Add(1)
				if i > int64(total) {
					return
				}
				c, err := dialAttacker(ctx, o, w)
				if err != nil {
					t.add("dial_failed")
					continue
				}
				copy(msg[at:], strconv.FormatInt(i, 10))
				if _, err := c.Write(msg); err != nil {
					t.add("write_cut")
				}
				t.add(answer(c, 5*time.Second))
				c.Close()
			}
		}()
	}
	wg.Wait()
	return t.String()
}

// holdConns opens count connections (at most 64 dials at a time), calls
// each(c) on each in its own goroutine and closes them when ctx is done;
// it reports how many the server closed before.
func holdConns(ctx context.Context, o options, count int, each func(ctx context.Context, c net.Conn)) string {
	var t tally
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := 0; i < count && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dialAttacker(ctx, o, i)
			<-sem
			if err != nil {
				t.add("dial_failed")
				return
			}
			defer c.Close()
			go func() { <-ctx.Done(); c.Close() }()
			if each != nil {
				each(ctx, c)
			}
			// The connection stays until ctx ends or the server closes it.
			_ = c.SetReadDeadline(time.Time{})
			_, _ = io.Copy(io.Discard, c)
			if ctx.Err() != nil {
				t.add("held")
			} else {
				t.add("closed_by_server")
			}
		}()
	}
	wg.Wait()
	return t.String()
}

func partialAttack(ctx context.Context, o options) string {
	msg := searchMsg(1, "cn="+strings.Repeat("x", mb)+",dc=example,dc=com")
	msg = msg[:len(msg)-1]
	return holdConns(ctx, o, n(o, 2000), func(ctx context.Context, c net.Conn) {
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, _ = c.Write(msg)
	})
}

// partialBoundAttack is partialAttack by a client that binds first (a
// leaked service account password): its messages may be 1 MiB.
func partialBoundAttack(ctx context.Context, o options) string {
	msg := searchMsg(2, "cn="+strings.Repeat("x", mb)+",dc=example,dc=com")
	msg = msg[:len(msg)-1]
	return holdConns(ctx, o, n(o, 2000), func(ctx context.Context, c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(bindMsg(1, o.svcDN, o.svcPW)); err != nil {
			return
		}
		if _, err := ber.ReadPacket(c); err != nil {
			return
		}
		_, _ = c.Write(msg)
	})
}

func bindMsg(id int64, dn, pw string) []byte {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, 0, nil, "bind")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, "version"))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, "dn"))
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, pw, "pw"))
	m := ber.NewSequence("LDAPMessage")
	m.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "id"))
	m.AppendChild(op)
	return m.Bytes()
}

func idleAttack(ctx context.Context, o options) string {
	return holdConns(ctx, o, n(o, 10000), nil)
}

func slowlorisAttack(ctx context.Context, o options) string {
	msg := searchMsg(1, "dc=example,dc=com")
	return holdConns(ctx, o, n(o, 4096), func(ctx context.Context, c net.Conn) {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for i := 0; i < len(msg)-1; i++ {
				if _, err := c.Write(msg[i : i+1]); err != nil {
					return
				}
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	})
}
