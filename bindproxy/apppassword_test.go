package bindproxy

import (
	"context"
	"sync"
	"testing"

	"github.com/ldapgate/ldapgate/internal/apppassword"
	"github.com/ldapgate/ldapgate/internal/passhash"
	"github.com/ldapgate/ldapgate/store"
)

// memAppPasswords is an AppPasswordStore in memory.
type memAppPasswords struct {
	mu  sync.Mutex
	aps []store.AppPassword
}

func (s *memAppPasswords) ActiveAppPasswords(_ context.Context, userID string) ([]store.AppPassword, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.AppPassword
	for _, ap := range s.aps {
		if ap.UserID == userID {
			out = append(out, ap)
		}
	}
	return out, nil
}

func (s *memAppPasswords) AppPasswordActive(context.Context, string, int64) (bool, error) {
	return true, nil
}
func (s *memAppPasswords) TouchAppPassword(context.Context, int64) error { return nil }

func (s *memAppPasswords) SetAppPasswordSelector(_ context.Context, id int64, sel int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.aps {
		if s.aps[i].ID == id && s.aps[i].Selector == 0 {
			s.aps[i].Selector = sel
		}
	}
	return nil
}

// add stores a new app password for userID and returns it in clear.
func (s *memAppPasswords) add(t *testing.T, userID string, legacy bool) string {
	t.Helper()
	pw, rec, err := apppassword.New(userID, "ap", "")
	if err != nil {
		t.Fatal(err)
	}
	if legacy {
		rec.Selector = 0
	}
	s.mu.Lock()
	rec.ID = int64(len(s.aps) + 1)
	s.aps = append(s.aps, rec)
	s.mu.Unlock()
	return pw
}

// A bind compares the typed password with one app password, whether the
// user has one or ten, right or wrong: the time taken tells nothing.
func TestAppPasswordOneComparison(t *testing.T) {
	st := &memAppPasswords{}
	var pws []string
	for range store.MaxActiveAppPasswords {
		pws = append(pws, st.add(t, alice.ID, false))
	}
	m, err := NewAppPasswordMethod(st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var n int
	m.verify = func(ctx context.Context, hash, pw string) (bool, error) {
		n++
		return passhash.Verify(ctx, hash, pw)
	}
	// A wrong password whose selector is none of the ten (as 65526 in
	// 65536 are).
	wrong := ""
	for wrong == "" {
		pw, _ := apppassword.Generate()
		norm, _ := apppassword.Normalize(pw)
		wrong = pw
		for _, ap := range st.aps {
			if ap.Selector == apppassword.Selector(norm) {
				wrong = ""
			}
		}
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name, pw string
		ok       bool
	}{
		{"the first", pws[0], true},
		{"the last", pws[len(pws)-1], true},
		{"a wrong one", wrong, false},
	} {
		n = 0
		_, err := m.Authenticate(ctx, alice, tc.pw, client)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok %v", tc.name, err, tc.ok)
		}
		if n != 1 {
			t.Errorf("%s: %d comparisons, want 1", tc.name, n)
		}
	}
	n = 0
	if _, err := m.Authenticate(ctx, bob, wrong, client); err == nil || n != 1 {
		t.Errorf("user without app passwords: %v after %d comparisons, want a refusal after 1", err, n)
	}
}

// An app password made before selectors is compared on every bind until
// its first good bind gives it its selector.
func TestAppPasswordLegacySelector(t *testing.T) {
	st := &memAppPasswords{}
	legacy := st.add(t, alice.ID, true)
	st.add(t, alice.ID, false)
	m, err := NewAppPasswordMethod(st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Authenticate(context.Background(), alice, legacy, client); err != nil {
		t.Fatal(err)
	}
	m.Close() // waits for the background write
	norm, _ := apppassword.Normalize(legacy)
	if got := st.aps[0].Selector; got != apppassword.Selector(norm) {
		t.Errorf("selector after the first bind = %d, want %d", got, apppassword.Selector(norm))
	}
}
