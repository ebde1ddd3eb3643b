package bindproxy

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/ldapgate/ldapgate/store"
)

// App passwords are 16 lowercase letters from crypto/rand, shown as four
// groups of four ("abcd-efgh-ijkl-mnop"): 16·log2(26) ≈ 75 bits of entropy.
// Dashes, spaces and case are ignored when one is typed.
const (
	appPasswordLetters = 16
	appPasswordGroup   = 4
)

// The argon2id cost of app password hashes: 19 MiB, 2 passes, 1 lane
// (OWASP's recommended minimum for argon2id). An app password is random
// with ~75 bits of entropy, so even a stolen database cannot be brute
// forced at this cost; the cost exists against that theft, not against
// guessable passwords. It is kept this low because an uncached bind
// compares the password with each of the user's active app passwords
// (at most store.MaxActiveAppPasswords): one comparison takes about 20 ms
// of one core and 19 MiB, so uncached binds stay in the tens of
// milliseconds and a burst of them cannot exhaust memory the way the
// 64 MiB × 4 lanes of service account hashes would. Repeated binds hit the
// verified-bind cache and cost microseconds.
const (
	appArgonMemory  = 19 * 1024 // KiB
	appArgonTime    = 2
	appArgonThreads = 1
	appArgonKeyLen  = 32
	appArgonSaltLen = 16
)

// GenerateAppPassword returns a new random app password in its display
// form, "abcd-efgh-ijkl-mnop".
func GenerateAppPassword() (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for n := 0; n < appPasswordLetters; {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("generate app password: %w", err)
		}
		if buf[0] >= 26*9 { // rejection sampling: 234 is the largest multiple of 26 ≤ 256
			continue
		}
		if n > 0 && n%appPasswordGroup == 0 {
			b.WriteByte('-')
		}
		b.WriteByte('a' + buf[0]%26)
		n++
	}
	return b.String(), nil
}

// NormalizeAppPassword returns s without dashes and spaces, in lowercase,
// and reports whether that has the shape of an app password.
func NormalizeAppPassword(s string) (string, bool) {
	if len(s) > 64 {
		return "", false
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '-' || r == ' ':
		case r >= 'a' && r <= 'z':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r - 'A' + 'a')
		default:
			return "", false
		}
	}
	return b.String(), b.Len() == appPasswordLetters
}

// HashAppPassword returns the argon2id hash (PHC string form) of the
// normalised app password pw.
func HashAppPassword(pw string) (string, error) {
	norm, ok := NormalizeAppPassword(pw)
	if !ok {
		return "", errors.New("hash app password: not an app password")
	}
	salt := make([]byte, appArgonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash app password: %w", err)
	}
	key := argon2.IDKey([]byte(norm), salt, appArgonTime, appArgonMemory, appArgonThreads, appArgonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, appArgonMemory, appArgonTime,
		appArgonThreads, base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// verifyAppPassword reports whether the normalised password norm matches
// hash, in constant time. The hash's own parameters are used (bounded), so
// a later change of cost keeps old hashes working.
func verifyAppPassword(hash, norm string) (bool, error) {
	var m, t uint32
	var p uint8
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false, errors.New("app password hash: not argon2id v19")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, fmt.Errorf("app password hash: parameters: %w", err)
	}
	if m < 8*uint32(max(p, 1)) || m > 64*1024 || t < 1 || t > 10 || p < 1 || p > 16 {
		return false, errors.New("app password hash: parameters out of bounds")
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
		return false, errors.New("app password hash: bad salt or key")
	}
	got := argon2.IDKey([]byte(norm), salt, t, m, p, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

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
}

// AppPasswordMethod accepts a user's active app passwords.
type AppPasswordMethod struct {
	store AppPasswordStore
	// services maps a service name to the client networks it binds from;
	// an app password bound to a service works only from those.
	services map[string][]netip.Prefix
	log      *slog.Logger
	dummy    string
	// sem bounds concurrent hash comparisons (19 MiB each), so a burst of
	// uncached binds queues instead of exhausting memory.
	sem chan struct{}

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

var _ Method = (*AppPasswordMethod)(nil)

// NewAppPasswordMethod returns the app password method over st. services
// maps each service name app passwords may be bound to onto the networks
// its clients bind from. log may be nil.
func NewAppPasswordMethod(st AppPasswordStore, services map[string][]netip.Prefix, log *slog.Logger) (*AppPasswordMethod, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dummy, err := HashAppPassword("aaaa-aaaa-aaaa-aaaa")
	if err != nil {
		return nil, err
	}
	return &AppPasswordMethod{store: st, services: services, log: log, dummy: dummy,
		sem:     make(chan struct{}, max(4, 2*runtime.GOMAXPROCS(0))),
		touched: make(map[int64]time.Time), touchEach: time.Minute, now: time.Now,
		checked: make(map[int64]time.Time), recheckEach: time.Second}, nil
}

// Name is "app_password".
func (m *AppPasswordMethod) Name() string { return MethodAppPassword }

// Authenticate compares password with each of u's active app passwords
// that may be used from client.
func (m *AppPasswordMethod) Authenticate(ctx context.Context, u *store.ViewUser, password string, client net.Addr) (Credential, error) {
	norm, ok := NormalizeAppPassword(password)
	if !ok {
		return Credential{}, ErrNotApplicable
	}
	aps, err := m.store.ActiveAppPasswords(ctx, u.ID)
	if err != nil {
		return Credential{}, err
	}
	select {
	case m.sem <- struct{}{}:
		defer func() { <-m.sem }()
	case <-ctx.Done():
		return Credential{}, ctx.Err()
	}
	if len(aps) == 0 {
		// Spend the time of one comparison, so having no app password
		// does not show in the time taken.
		_, _ = verifyAppPassword(m.dummy, norm)
		return Credential{}, errNoAppPasswords
	}
	var wrongService bool
	for _, ap := range aps {
		ok, err := verifyAppPassword(ap.Hash, norm)
		if err != nil {
			m.log.Error("unusable app password hash", "user", u.UID, "app_password", ap.ID, "err", err)
			continue
		}
		if !ok {
			continue
		}
		if ap.Service != "" && !m.fromService(ap.Service, client) {
			wrongService = true
			continue
		}
		m.touch(ap.ID)
		return Credential{AppPasswordID: ap.ID, Label: ap.Name}, nil
	}
	if wrongService {
		return Credential{}, errWrongService
	}
	return Credential{}, errWrongAppPassword
}

// fromService reports whether client is in the networks of service.
func (m *AppPasswordMethod) fromService(service string, client net.Addr) bool {
	ip, ok := clientIP(client)
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
// active; revocation from another process (the CLI) shows here at once.
func (m *AppPasswordMethod) stillValid(ctx context.Context, userID string, c Credential) bool {
	now := m.now()
	m.checkedMu.Lock()
	at, ok := m.checked[c.AppPasswordID]
	m.checkedMu.Unlock()
	if ok && now.Sub(at) < m.recheckEach {
		m.touch(c.AppPasswordID)
		return true
	}
	ok, err := m.store.AppPasswordActive(ctx, userID, c.AppPasswordID)
	if err != nil {
		m.log.Error("app password check failed", "app_password", c.AppPasswordID, "err", err)
		ok = false
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
	return ok
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
	m.touchWG.Add(1)
	go func() {
		defer m.touchWG.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := m.store.TouchAppPassword(ctx, id); err != nil {
			m.log.Warn("could not record app password use", "app_password", id, "err", err)
		}
	}()
}

// Close waits for pending last-used updates.
func (m *AppPasswordMethod) Close() error {
	m.touchWG.Wait()
	return nil
}

func clientIP(a net.Addr) (netip.Addr, bool) {
	if a == nil {
		return netip.Addr{}, false
	}
	if t, ok := a.(*net.TCPAddr); ok {
		ip, ok := netip.AddrFromSlice(t.IP)
		return ip.Unmap(), ok
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}
