// Command ldapgate-bench is a load generator for LDAP servers (ldapgate,
// slapd, any other): it runs one kind of operation from several
// connections for a while and reports throughput, p50 and p99 latency.
//
//	ldapgate-bench -url ldap://127.0.0.1:3389 -D cn=archive,ou=services,dc=example,dc=com -w secret \
//	    -base dc=example,dc=com -mode search -filter '(uid=user%07d)' -n 100000 -c 4 -d 10s
//
// Modes: search (equality search on bound connections; %d in -filter is a
// pseudo-random number below -n), bind (simple binds on open connections),
// cycle (connect, bind, search, unbind), paged (a full paged read of -base
// with -filter, pages of -page entries; one operation is the whole read),
// paged-raw (the same read, its entries counted but not decoded: go-ldap's
// decoding would be the bottleneck; see raw.go), timing (-per binds of each
// -case 'label|name|password', each on a new connection, interleaved; it
// reports the answers and the time taken per case, to compare refusals
// for different reasons: see bench/bind-timing.sh).
//
// With -gen-directory, it writes a directory file of -n users instead (the
// data of bench/compare-slapd.sh) and exits. With -fake-google DIR, it
// serves a fake of Google's Directory API holding an organisation of -n
// users (see serveFakeGoogle; the source of bench/sync-memory.sh) until
// interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ldapgate/ldapgate/sync/dirfile/dirfiletest"
)

type options struct {
	url, bindDN, password, base, filter, mode string
	from                                      string // local address to connect from
	attrs                                     string
	n, conns, page, per                       int
	duration                                  time.Duration
	cases                                     []bindCase
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("ldapgate-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "ldap://127.0.0.1:3389", "server URL")
	fs.StringVar(&o.bindDN, "D", "", "bind DN")
	fs.StringVar(&o.password, "w", "", "bind password")
	fs.StringVar(&o.base, "base", "", "search base")
	fs.StringVar(&o.filter, "filter", "(uid=user%07d)", "search filter; %d is replaced by a number below -n")
	fs.StringVar(&o.attrs, "attrs", "", "comma-separated attributes to return (default all user attributes)")
	fs.StringVar(&o.mode, "mode", "search", "search, bind, cycle, paged, paged-raw or timing")
	fs.IntVar(&o.per, "per", 1000, "binds per -case for -mode timing")
	fs.StringVar(&o.from, "from", "", "local IP address to connect from (e.g. 127.0.0.2: another client address on loopback)")
	fs.Func("case", "for -mode timing: label|bind name|password (repeat the flag)", func(s string) error {
		c, err := parseCase(s)
		o.cases = append(o.cases, c)
		return err
	})
	fs.IntVar(&o.n, "n", 100000, "range of the number in -filter")
	fs.IntVar(&o.conns, "c", 4, "concurrent connections")
	fs.IntVar(&o.page, "page", 1000, "page size for -mode paged")
	fs.DurationVar(&o.duration, "d", 10*time.Second, "how long to run")
	gen := fs.Bool("gen-directory", false, "write a directory file of -n users to stdout and exit")
	fake := fs.String("fake-google", "", "serve a fake Google organisation of -n users until interrupted, writing its key and an ldapgate config into this folder")
	latency := fs.Duration("latency", 0, "for -fake-google: added to every call")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *gen {
		if err := dirfiletest.Generate(stdout, o.n); err != nil {
			fmt.Fprintln(stderr, "ldapgate-bench:", err)
			return 1
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *fake != "" {
		if err := serveFakeGoogle(ctx, stdout, *fake, o.n, *latency); err != nil {
			fmt.Fprintln(stderr, "ldapgate-bench:", err)
			return 1
		}
		return 0
	}
	if o.mode == "timing" {
		// -d bounds a timing run only when given: -per decides otherwise.
		cancel := context.CancelFunc(func() {})
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "d" {
				ctx, cancel = context.WithTimeout(ctx, o.duration)
			}
		})
		defer cancel()
		res, err := timing(ctx, &o)
		if err != nil {
			fmt.Fprintln(stderr, "ldapgate-bench:", err)
			return 1
		}
		printTiming(stdout, &o, res)
		return 0
	}
	res, err := bench(ctx, &o)
	if err != nil {
		fmt.Fprintln(stderr, "ldapgate-bench:", err)
		return 1
	}
	res.print(stdout, &o)
	return 0
}

type result struct {
	ops     int
	errs    int
	elapsed time.Duration
	lat     []time.Duration
}

func (r *result) print(w io.Writer, o *options) {
	slices.Sort(r.lat)
	pct := func(p float64) time.Duration {
		if len(r.lat) == 0 {
			return 0
		}
		return r.lat[min(len(r.lat)-1, int(float64(len(r.lat))*p))]
	}
	fmt.Fprintf(w, "mode=%s conns=%d ops=%d errors=%d elapsed=%s throughput=%.0f/s p50=%s p99=%s\n",
		o.mode, o.conns, r.ops, r.errs, r.elapsed.Round(time.Millisecond),
		float64(r.ops)/r.elapsed.Seconds(), pct(0.50), pct(0.99))
}

// worker runs operations until ctx ends.
type worker struct {
	o    *options
	conn *ldap.Conn
	raw  *rawPager // paged-raw
	rnd  uint64
}

func (w *worker) next() int {
	// xorshift: cheap, and different per worker.
	w.rnd ^= w.rnd << 13
	w.rnd ^= w.rnd >> 7
	w.rnd ^= w.rnd << 17
	return int(w.rnd % uint64(max(w.o.n, 1)))
}

// dial connects to o.url, from o.from if set.
func dial(o *options) (*ldap.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if o.from != "" {
		ip := net.ParseIP(o.from)
		if ip == nil {
			return nil, fmt.Errorf("-from %q: not an IP address", o.from)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return ldap.DialURL(o.url, ldap.DialWithDialer(d))
}

func (w *worker) dial() (*ldap.Conn, error) {
	c, err := dial(w.o)
	if err != nil {
		return nil, err
	}
	if w.o.bindDN != "" {
		if err := c.Bind(w.o.bindDN, w.o.password); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

func (w *worker) searchRequest() *ldap.SearchRequest {
	f := w.o.filter
	if strings.Contains(f, "%") {
		f = fmt.Sprintf(f, w.next())
	}
	var attrs []string
	if w.o.attrs != "" {
		attrs = strings.Split(w.o.attrs, ",")
	}
	return ldap.NewSearchRequest(w.o.base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, f, attrs, nil)
}

func (w *worker) op() error {
	switch w.o.mode {
	case "search":
		_, err := w.conn.Search(w.searchRequest())
		return err
	case "bind":
		return w.conn.Bind(w.o.bindDN, w.o.password)
	case "cycle":
		c, err := w.dial()
		if err != nil {
			return err
		}
		_, err = c.Search(w.searchRequest())
		c.Close() // sends the unbind
		return err
	case "paged":
		_, err := w.conn.SearchWithPaging(w.searchRequest(), uint32(w.o.page))
		return err
	case "paged-raw":
		n, err := w.raw.read(w.o, w.searchRequest().Filter)
		if err == nil && n == 0 {
			err = errors.New("the paged read returned no entries")
		}
		return err
	}
	return fmt.Errorf("unknown mode %q", w.o.mode)
}

func bench(ctx context.Context, o *options) (*result, error) {
	switch o.mode {
	case "search", "bind", "cycle", "paged", "paged-raw":
	default:
		return nil, fmt.Errorf("unknown mode %q", o.mode)
	}
	if o.mode == "bind" && o.bindDN == "" {
		return nil, errors.New("-mode bind needs -D and -w")
	}
	workers := make([]*worker, o.conns)
	for i := range workers {
		w := &worker{o: o, rnd: uint64(i)*0x9e3779b97f4a7c15 + 1}
		switch o.mode {
		case "cycle":
		case "paged-raw":
			p, err := dialRaw(o)
			if err != nil {
				return nil, err
			}
			defer p.Close()
			w.raw = p
		default:
			c, err := w.dial()
			if err != nil {
				return nil, err
			}
			defer c.Close()
			w.conn = c
		}
		workers[i] = w
	}
	ctx, cancel := context.WithTimeout(ctx, o.duration) // from here: connecting is not measured
	defer cancel()
	var (
		mu  sync.Mutex
		res result
		wg  sync.WaitGroup
	)
	start := time.Now()
	for _, w := range workers {
		wg.Go(func() {
			var lat []time.Duration
			ops, errs := 0, 0
			for ctx.Err() == nil {
				t := time.Now()
				if err := w.op(); err != nil {
					errs++
					continue
				}
				lat = append(lat, time.Since(t))
				ops++
			}
			mu.Lock()
			res.ops += ops
			res.errs += errs
			res.lat = append(res.lat, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return &res, nil
}
