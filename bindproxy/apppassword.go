package bindproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/internal/apppassword"
	"github.com/ldapgate/ldapgate/internal/passhash"
	"github.com/ldapgate/ldapgate/store"
)

// AppPasswordStore is what the app password method needs from the store.
type AppPasswordStore interface {
	// ActiveAppPasswords returns the user's app passwords that are not
	// revoked, with their hashes.
	ActiveAppPasswords(ctx context.Context, userID string) ([]store.AppPassword, error)
	// AppPasswordActive reports whether the user's app password id exists
	// and is not revoked.
	AppPasswordActive(ctx context.Context, userID string, id int64) (bool, error)
	// TouchAppPassword records that app password id was just used.
	TouchAppPassword(ctx context.Context, id int64) error
	// SetAppPasswordSelector gives app password id its selector, if it has
	// none.
	SetAppPasswordSelector(ctx context.Context, id int64, sel int) error
}

// AppPasswordMethod accepts a user's active app passwords.
type AppPasswordMethod struct {
	store AppPasswordStore
	// services maps a service name to the client networks it binds from;
	// an app password bound to a service works only from those.
	services map[string][]netip.Prefix
	log      *slog.Logger
	// verify is passhash.Verify; tests count comparisons.
	verify func(ctx context.Context, hash, pw string) (bool, error)

	touchMu   sync.Mutex
	touched   map[int64]time.Time
	touchWG   sync.WaitGroup
	touchEach time.Duration
	now       func() time.Time

	// checked remembers when each cached app password was last found active
	// in the store. Revocations in this process drop the chain's cache
	// entries at once (Chain.Revoked); one by another process (the CLI) is
	// seen within recheckEach, and binds in between cost no SQLite query.
	checkedMu   sync.Mutex
	checked     map[int64]time.Time
	recheckEach time.Duration
}

var (
	_ Method    = (*AppPasswordMethod)(nil)
	_ rechecker = (*AppPasswordMethod)(nil)
)

// NewAppPasswordMethod returns the app password method over st. services
// maps each service name app passwords may be bound to onto the networks
// its clients bind from. log may be nil.
func NewAppPasswordMethod(st AppPasswordStore, services map[string][]netip.Prefix, log *slog.Logger) (*AppPasswordMethod, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &AppPasswordMethod{store: st, services: services, log: log, verify: passhash.Verify,
		touched: make(map[int64]time.Time), touchEach: time.Minute, now: time.Now,
		checked: make(map[int64]time.Time), recheckEach: time.Second}, nil
}

// Name is "app_password".
func (m *AppPasswordMethod) Name() string { return MethodAppPassword }

// Authenticate compares password with each of u's active app passwords
// that may be used from client. It could not check when the store cannot
// be read or the hash gate is full.
func (m *AppPasswordMethod) Authenticate(ctx context.Context, u *store.ViewUser, password string, client net.Addr) (Credential, error) {
	norm, ok := apppassword.Normalize(password)
	if !ok {
		return Credential{}, ErrNotApplicable
	}
	aps, err := m.store.ActiveAppPasswords(ctx, u.ID)
	if err != nil {
		return Credential{}, fmt.Errorf("read app passwords: %w", err)
	}
	sel := apppassword.Selector(norm)
	compared := false
	var wrongService bool
	for _, ap := range aps {
		if ap.Selector != 0 && ap.Selector != sel {
			continue
		}
		compared = true
		ok, err := m.verify(ctx, ap.Hash, norm)
		switch {
		case errors.Is(err, passhash.ErrBusy) || ctx.Err() != nil:
			return Credential{}, fmt.Errorf("compare app passwords: %w", err)
		case err != nil:
			m.log.Error("unusable app password hash", "user", u.UID, "app_password", ap.ID, "err", err)
			continue
		case !ok:
			continue
		}
		if ap.Service != "" && !m.fromService(ap.Service, client) {
			wrongService = true
			continue
		}
		if ap.Selector == 0 {
			m.background(func(ctx context.Context) error { return m.store.SetAppPasswordSelector(ctx, ap.ID, sel) })
		}
		m.touch(ap.ID)
		return Credential{AppPasswordID: ap.ID, Label: ap.Name}, nil
	}
	if !compared {
		// Spend one comparison, so that selecting none (no app password, or
		// none with this selector) costs what a comparison costs, in time
		// and in the gate's answer.
		if _, err := m.verify(ctx, passhash.Dummy(), norm); errors.Is(err, passhash.ErrBusy) {
			return Credential{}, err
		}
		if len(aps) == 0 {
			return Credential{}, errNoAppPasswords
		}
	}
	if wrongService {
		return Credential{}, errWrongService
	}
	return Credential{}, errWrongAppPassword
}

// fromService reports whether client is in the networks of service.
func (m *AppPasswordMethod) fromService(service string, client net.Addr) bool {
	ip, ok := directory.ClientIP(client)
	if !ok {
		return false
	}
	for _, p := range m.services[service] {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// stillValid reports whether the app password of a cached bind is still
// active; revocation from another process (the CLI) shows here within
// recheckEach. An error means the store could not tell.
func (m *AppPasswordMethod) stillValid(ctx context.Context, userID string, c Credential) (bool, error) {
	now := m.now()
	m.checkedMu.Lock()
	at, ok := m.checked[c.AppPasswordID]
	m.checkedMu.Unlock()
	if ok && now.Sub(at) < m.recheckEach {
		m.touch(c.AppPasswordID)
		return true, nil
	}
	ok, err := m.store.AppPasswordActive(ctx, userID, c.AppPasswordID)
	if err != nil {
		return false, fmt.Errorf("check app password %d: %w", c.AppPasswordID, err)
	}
	m.checkedMu.Lock()
	if ok {
		m.checked[c.AppPasswordID] = now
	} else {
		delete(m.checked, c.AppPasswordID)
	}
	m.checkedMu.Unlock()
	if ok {
		m.touch(c.AppPasswordID)
	}
	return ok, nil
}

// touch records the use of app password id in the background, at most
// once a minute per app password, so binds never wait for the writer.
func (m *AppPasswordMethod) touch(id int64) {
	now := m.now()
	m.touchMu.Lock()
	if last, ok := m.touched[id]; ok && now.Sub(last) < m.touchEach {
		m.touchMu.Unlock()
		return
	}
	m.touched[id] = now
	m.touchMu.Unlock()
	m.background(func(ctx context.Context) error { return m.store.TouchAppPassword(ctx, id) })
}

// background runs a store write off the bind path; Close waits for it.
func (m *AppPasswordMethod) background(write func(ctx context.Context) error) {
	m.touchWG.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := write(ctx); err != nil {
			m.log.Warn("could not record app password use", "err", err)
		}
	})
}

// Close waits for pending last-used and selector updates.
func (m *AppPasswordMethod) Close() error {
	m.touchWG.Wait()
	return nil
}
