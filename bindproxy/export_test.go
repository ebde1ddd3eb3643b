package bindproxy

import "time"

// SetClock sets the clock m checks revocations and last use with.
func (m *AppPasswordMethod) SetClock(now func() time.Time) { m.now = now }

// RecheckEach is how long m trusts a cached app password without asking the store.
func (m *AppPasswordMethod) RecheckEach() time.Duration { return m.recheckEach }
