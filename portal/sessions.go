package portal

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ldapgate/ldapgate/store"
)

// Sessions keeps the portal's signed-in sessions, by the hash of their
// cookie. ldapgate keeps them in the store, so every instance behind one
// address knows them and they outlive a restart. Errors of PortalSession
// wrap store.ErrNotFound for an unknown or expired session.
type Sessions interface {
	PutPortalSession(ctx context.Context, s store.PortalSession) error
	PortalSession(ctx context.Context, key string) (store.PortalSession, error)
	DeletePortalSession(ctx context.Context, key string) error
}

// memSessions keeps sessions in this process's memory.
type memSessions struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]store.PortalSession
}

var _ Sessions = (*memSessions)(nil)
var _ Sessions = (*store.DB)(nil)

func newMemSessions(now func() time.Time) *memSessions {
	return &memSessions{now: now, m: make(map[string]store.PortalSession)}
}

func (m *memSessions) PutPortalSession(_ context.Context, s store.PortalSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, old := range m.m {
		if !m.now().Before(old.Expires) {
			delete(m.m, k)
		}
	}
	m.m[s.Key] = s
	return nil
}

func (m *memSessions) PortalSession(_ context.Context, key string) (store.PortalSession, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.m[key]
	if !ok || !m.now().Before(s.Expires) {
		return store.PortalSession{}, fmt.Errorf("portal session: %w", store.ErrNotFound)
	}
	return s, nil
}

func (m *memSessions) DeletePortalSession(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, key)
	return nil
}
