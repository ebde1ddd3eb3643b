package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/ldapserver"
)

// defaultReloadDebounce is how long the config watcher waits after the
// last change in the config's folder before it reads the file, and how
// long the file must then stay the same before it is applied: editors and
// Kubernetes write a file in several steps, and a file written in place
// can be valid YAML halfway through.
const defaultReloadDebounce = 300 * time.Millisecond

// ReloadStatus is the outcome of the last config reload.
type ReloadStatus struct {
	At      time.Time // zero: no reload yet
	OK      bool
	Err     error    // the reason a reload was refused (ConfigErrors name file and line)
	Changes []Change // what the last successful reload changed
	// Restart lists changes made to the file that are not in effect until
	// ldapgate restarts.
	Restart []Change
}

type reloadState struct {
	mu     sync.Mutex // serialises reloads
	status ReloadStatus
	// running is the hash of the file the config in effect was read from.
	running [sha256.Size]byte
	// file is the config as read at start, the base for "needs restart".
	file *Config
	// settling, if set, is called by the watcher each time it finds the
	// file changed since its last look (tests write the rest of a file).
	settling func()
	// debounce is defaultReloadDebounce; tests set it before Run.
	debounce time.Duration
}

// ReloadStatus returns the outcome of the last reload.
func (g *Gateway) ReloadStatus() ReloadStatus {
	g.reload.mu.Lock()
	defer g.reload.mu.Unlock()
	return g.reload.status
}

// certSwitch serves the LDAP TLS certificate of the current reloader.
type certSwitch struct {
	p atomic.Pointer[ldapserver.CertReloader]
}

// GetCertificate is a tls.Config.GetCertificate.
func (c *certSwitch) GetCertificate(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
	r := c.p.Load()
	if r == nil {
		return nil, errors.New("no certificate")
	}
	return r.GetCertificate(h)
}

// schedule is the sync schedule: when the next sync runs, requests for a
// sync after a config reload, and interval changes.
type schedule struct {
	mu   sync.Mutex
	next time.Time
	last time.Time
	// reloaded asks for a sync with the reloaded settings, which defers
	// deletions to the next scheduled one.
	reloaded chan struct{}
	changed  chan struct{}
}

func (s *schedule) init() {
	s.reloaded = make(chan struct{}, 1)
	s.changed = make(chan struct{}, 1)
	s.last = time.Now()
}

func (s *schedule) setNext(t time.Time) {
	s.mu.Lock()
	s.next = t
	s.mu.Unlock()
}

func (s *schedule) started(t time.Time) {
	s.mu.Lock()
	s.last = t
	s.mu.Unlock()
}

func (s *schedule) lastStart() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// NextSync returns when the next scheduled sync runs (zero before Run).
func (g *Gateway) NextSync() time.Time {
	g.sched.mu.Lock()
	defer g.sched.mu.Unlock()
	return g.sched.next
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Reload reads the config file again and applies it (see apply), also
// when it is the file already in effect (password files and variables are
// read again). An invalid file changes nothing: the error is returned,
// logged with file and line, counted, and shown on /healthz and the admin
// page. It is the explicit reload (SIGHUP): unlike the file watcher, it
// applies an edit that removes a service account.
func (g *Gateway) Reload(ctx context.Context) error {
	g.reload.mu.Lock()
	defer g.reload.mu.Unlock()
	data, err := os.ReadFile(g.config().Path())
	if err != nil {
		return g.reloadFailed(fmt.Errorf("config: %w", err))
	}
	return g.reloadData(ctx, data, true)
}

// reloadData applies the config file content data. Unless explicit, a
// file identical to the one in effect does nothing, and one that removes a
// service account is refused: cut short while being written, a file loses
// its last keys and may still be valid YAML.
func (g *Gateway) reloadData(ctx context.Context, data []byte, explicit bool) error {
	path := g.config().Path()
	sum := sha256.Sum256(data)
	if !explicit && sum == g.reload.running {
		if st := &g.reload.status; !st.OK && !st.At.IsZero() {
			// The edit that was refused has been undone.
			st.At, st.OK, st.Err = time.Now().UTC(), true, nil
			g.log.Info("the config file is the one in effect again", "file", path)
		}
		return nil
	}
	next, err := ParseConfig(path, data)
	if err != nil {
		return g.reloadFailed(err)
	}
	if removed := removedAccounts(g.config(), next); !explicit && len(removed) > 0 {
		return g.reloadFailed(fmt.Errorf("config: the edit removes service account(s) %s, which a half-saved file does too: "+
			"not applied automatically; reload with SIGHUP (systemctl reload ldapgate) to apply it", strings.Join(removed, ", ")))
	}
	changes, err := g.apply(ctx, next)
	if err != nil {
		return g.reloadFailed(err)
	}
	g.reload.running = sum
	st := &g.reload.status
	st.At, st.OK, st.Err, st.Changes = time.Now().UTC(), true, nil, changes
	st.Restart = nil
	if g.reload.file != nil {
		for _, c := range Diff(g.reload.file, next) {
			if c.Effect == EffectRestart {
				st.Restart = append(st.Restart, c)
			}
		}
	}
	g.metrics.reloaded(true)
	return nil
}

func (g *Gateway) reloadFailed(err error) error {
	st := &g.reload.status
	st.At, st.OK, st.Err = time.Now().UTC(), false, err
	g.metrics.reloaded(false)
	var ces ConfigErrors
	if errors.As(err, &ces) {
		for _, e := range ces {
			g.log.Error("config reload refused; still running on the last good config", "file", e.File, "line", e.Line, "err", e.Msg)
		}
	} else {
		g.log.Error("config reload refused; still running on the last good config", "err", err)
	}
	return err
}

// apply puts a valid config in place: service accounts, bind limits, the
// bind chain and the LDAP certificate at once (connections stay open);
// filters, default privileges and privilege rules with a sync that starts
// at once but leaves deletions to the next scheduled sync; listeners, the
// store and the portal's settings only after a restart (logged). On error
// nothing has changed.
func (g *Gateway) apply(_ context.Context, next *Config) ([]Change, error) {
	cur := g.config()
	changes := Diff(cur, next)
	// Everything that can fail comes first.
	accounts, err := serviceAccounts(next)
	if err != nil {
		return nil, err
	}
	certs, err := newCertReloader(next, g.log)
	if err != nil {
		return nil, err
	}
	var chain *chainSet
	if slices.ContainsFunc(changes, func(c Change) bool { return keyInfoOf(c.Key).chain }) {
		if chain, err = g.buildChain(next); err != nil {
			return nil, err
		}
	}
	g.mu.Lock()
	servers := append([]*ldapserver.Server(nil), g.servers...)
	g.mu.Unlock()
	settings := directory.Settings{ServiceAccounts: accounts, BindLimit: next.LDAPBindLimit()}
	// Checked against the servers as they run (their TLS, which only a
	// restart turns on or off), not against a config rebuilt here.
	for _, s := range servers {
		if err := s.Directory().Check(settings); err != nil {
			if chain != nil {
				chain.close()
			}
			return nil, err
		}
	}
	// Nothing fails from here on.
	for _, s := range servers {
		if err := s.Directory().Reload(settings); err != nil {
			g.log.Error("ldap settings not reloaded", "err", err) // unreachable: validated above
		}
	}
	if certs != nil && g.certs.p.Load() != nil {
		g.certs.p.Store(certs)
	}
	if chain != nil {
		g.installChain(chain)
	}
	// The parts that need a restart keep their old values in the config
	// in effect, so that what runs and what Config says agree.
	eff := *next
	keepRestartOnly(&eff, cur, changes)
	g.cfgMu.Lock()
	g.cfg = &eff
	g.cfgMu.Unlock()
	var nextSync, interval bool
	for _, c := range changes {
		switch c.Effect {
		case EffectRestart:
			g.log.Warn("config change needs a restart to take effect", "key", c.Key, "old", c.Old, "new", c.New)
		case EffectNextSync:
			nextSync = true
			g.log.Info("config changed; takes effect with the next sync", "key", c.Key, "old", c.Old, "new", c.New)
		default:
			g.log.Info("config changed; in effect now", "key", c.Key, "old", c.Old, "new", c.New)
			if keyInfoOf(c.Key).schedule {
				interval = true
			}
		}
	}
	g.log.Info("config reloaded", "file", next.Path(), "changes", len(changes), "restart_needed", NeedsRestart(changes))
	if nextSync {
		poke(g.sched.reloaded) // the new filters and privileges now rather than in sync.interval
	} else if interval {
		poke(g.sched.changed)
	}
	return changes, nil
}

// removedAccounts lists the service accounts of cur that next lacks.
func removedAccounts(cur, next *Config) []string {
	var out []string
	for _, a := range cur.ServiceAccounts {
		if !slices.ContainsFunc(next.ServiceAccounts, func(b ServiceAccount) bool { return b.Name == a.Name }) {
			out = append(out, a.Name)
		}
	}
	return out
}

// keepRestartOnly sets in c the settings of cur whose changes need a
// restart.
func keepRestartOnly(c, cur *Config, changes []Change) {
	for _, ch := range changes {
		if ch.Effect == EffectRestart {
			field(c, ch.Key).Set(field(cur, ch.Key))
		}
	}
}

// watchConfig reloads the config when its file changes. It watches the
// file's folder, not the file: editors replace the file by renaming a new
// one over it, and Kubernetes swaps a symlink (..data) to a new folder;
// both end the watch of the file itself. Events are debounced; then the
// file must read the same twice, g.reload.debounce apart, before it is
// applied (a file still being written, or one that does not parse yet, is
// looked at again); and a file whose content is the one in effect does
// nothing.
func (g *Gateway) watchConfig(ctx context.Context) error {
	path := g.config().Path()
	data, err := os.ReadFile(path)
	if err == nil {
		g.reload.mu.Lock()
		g.reload.running = sha256.Sum256(data)
		g.reload.file = g.config()
		g.reload.mu.Unlock()
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch config: %w", err)
	}
	dirs := map[string]bool{}
	addDirs := func() {
		want := []string{filepath.Dir(path)}
		if real, err := filepath.EvalSymlinks(path); err == nil {
			want = append(want, filepath.Dir(real))
		}
		for _, d := range want {
			if dirs[d] {
				continue
			}
			if err := w.Add(d); err != nil {
				g.log.Warn("cannot watch config folder", "dir", d, "err", err)
				continue
			}
			dirs[d] = true
		}
	}
	addDirs()
	if len(dirs) == 0 {
		w.Close()
		return fmt.Errorf("watch config: cannot watch %s", filepath.Dir(path))
	}
	g.log.Info("watching the config file for changes", "file", path)
	debounce := g.reload.debounce
	go func() {
		defer w.Close()
		var (
			timer  *time.Timer
			looked [sha256.Size]byte // the content at the last look
		)
		fire := make(chan struct{}, 1)
		for {
			select {
			case <-ctx.Done():
				if timer != nil {
					timer.Stop()
				}
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if ev.Op == fsnotify.Chmod || !relevant(ev.Name, path) {
					continue
				}
				if timer == nil {
					timer = time.AfterFunc(debounce, func() { poke(fire) })
				} else {
					timer.Reset(debounce)
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				g.log.Warn("config watch error", "err", err)
			case <-fire:
				addDirs() // a symlink swap may point into a new folder
				data, err := os.ReadFile(path)
				if err != nil {
					continue // between a delete and a create; the create fires again
				}
				if sum := sha256.Sum256(data); sum != looked {
					looked = sum
					timer.Reset(debounce) // look again: still being written?
					g.reload.mu.Lock()
					settling := g.reload.settling
					g.reload.mu.Unlock()
					if settling != nil {
						settling()
					}
					continue
				}
				g.reload.mu.Lock()
				_ = g.reloadData(ctx, data, false)
				g.reload.mu.Unlock()
			}
		}
	}()
	return nil
}

// relevant reports whether a change to name may change the config at path:
// the file itself, its symlink's target, or a Kubernetes "..data" swap.
// Other files in the folder (a store kept next to the config) are ignored.
func relevant(name, path string) bool {
	base := filepath.Base(name)
	if base == filepath.Base(path) || strings.HasPrefix(base, "..") {
		return true
	}
	if real, err := filepath.EvalSymlinks(path); err == nil && base == filepath.Base(real) {
		return true
	}
	return false
}

// watchSIGHUP reloads the config on SIGHUP.
func (g *Gateway) watchSIGHUP(ctx context.Context) {
	if g.config().Path() == "" {
		return
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				g.log.Info("SIGHUP: reloading the config")
				_ = g.Reload(ctx)
			}
		}
	}()
}
