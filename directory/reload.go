package directory

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"sync/atomic"
)

// Settings are the parts of a Directory's Config that Reload changes while
// it serves: connections stay open, binds after the call use the new
// values.
type Settings struct {
	ServiceAccounts []ServiceAccount
	BindLimit       BindLimit
}

// dynamic is the reloadable state of a Directory, swapped whole.
type dynamic struct {
	accounts map[string]ServiceAccount    // normalised entry DN -> account
	certs    map[[sha256.Size]byte]string // client certificate fingerprint -> entry DN
	limit    BindLimit
	layout   *layout // the tree layout with the current service accounts
}

// extension holds what reload.go and observe.go add to a Directory.
type extension struct {
	dyn atomic.Pointer[dynamic]
	obs Observer
}

// initExt sets the reloadable state from the constructor's config.
func (d *Directory) initExt(o options) {
	d.ext.obs = o.observer
	d.ext.dyn.Store(&dynamic{accounts: d.accounts, certs: certsOf(d.accounts), limit: d.cfg.BindLimit, layout: d.layout})
}

// certsOf maps the client certificates of accounts (validated) to the
// accounts' entry DNs.
func certsOf(accounts map[string]ServiceAccount) map[[sha256.Size]byte]string {
	certs := make(map[[sha256.Size]byte]string)
	for ndn, sa := range accounts {
		if fp, err := ParseCertFingerprint(sa.ClientCertSHA256); err == nil {
			certs[fp] = ndn
		}
	}
	return certs
}

// Check reports whether Reload would accept s: the settings are checked
// as Config.Validate checks them, with the rest of the config (TLS
// included) as the directory runs with it.
func (d *Directory) Check(s Settings) error {
	_, err := d.withSettings(s)
	return err
}

func (d *Directory) withSettings(s Settings) (Config, error) {
	c := d.cfg
	c.ServiceAccounts = s.ServiceAccounts
	c.BindLimit = s.BindLimit
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("directory: %w", err)
	}
	return c.withDefaults(), nil
}

// Reload swaps the service accounts and the failed-bind limits atomically.
// The accounts are checked as Check does; on error nothing changes. Open
// connections keep their bound identity; the service account entries in
// the tree change with the next search.
func (d *Directory) Reload(s Settings) error {
	c, err := d.withSettings(s)
	if err != nil {
		return err
	}
	l := *d.layout
	l.services = nil
	nl, err := newLayout(&c)
	if err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	l.services = nl.services
	next := &dynamic{accounts: make(map[string]ServiceAccount, len(c.ServiceAccounts)), limit: c.BindLimit, layout: &l}
	svc := l.ous[ouServices]
	for _, sa := range c.ServiceAccounts {
		sa.Name = strings.TrimSpace(sa.Name)
		next.accounts[normAVA("cn", sa.Name)+","+svc.ndn] = sa
	}
	next.certs = certsOf(next.accounts)
	d.limiter.mu.Lock()
	d.limiter.window, d.limiter.backoff = c.BindLimit.Window, c.BindLimit.Backoff
	d.limiter.mu.Unlock()
	// Swap under the tree cache's lock so no tree of the old layout is
	// stored after the swap.
	d.trees.mu.Lock()
	d.ext.dyn.Store(next)
	d.trees.cur.Store(nil)
	d.trees.mu.Unlock()
	d.log.Info("ldap settings reloaded", "service_accounts", len(next.accounts),
		"bind_limit_per_name", c.BindLimit.PerName, "bind_limit_per_address", c.BindLimit.PerAddress)
	return nil
}

// Settings returns the settings in effect.
func (d *Directory) Settings() Settings {
	dy := d.ext.dyn.Load()
	s := Settings{BindLimit: dy.limit}
	for _, sa := range dy.accounts {
		s.ServiceAccounts = append(s.ServiceAccounts, sa)
	}
	return s
}

func (d *Directory) serviceAccount(ndn string) (ServiceAccount, bool) {
	sa, ok := d.ext.dyn.Load().accounts[ndn]
	return sa, ok
}

func (d *Directory) BindLimit() BindLimit { return d.ext.dyn.Load().limit }

func (d *Directory) treeLayout() *layout { return d.ext.dyn.Load().layout }
