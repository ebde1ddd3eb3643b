package store

import "testing"

// TestViewUserHasAddress: the sign-in callback and the ID token and
// password grant bind methods accept a user's primary address and aliases
// in any case, and nothing else; HasAddress agrees with UserByMail.
func TestViewUserHasAddress(t *testing.T) {
	st := &State{Users: []User{
		{ID: "1", UID: "alice", PrimaryEmail: "alice@example.com", Aliases: []string{"al@example.com", "alice@example.org"}},
		{ID: "2", UID: "bob", PrimaryEmail: "bob@example.com"},
	}}
	v := NewView(st, nil, t1)
	alice, _ := v.UserByID("1")
	tests := []struct {
		addr string
		want bool
	}{
		{"alice@example.com", true},
		{"Alice@Example.COM", true},
		{"al@example.com", true},
		{"ALICE@example.org", true},
		{"bob@example.com", false}, // another user's
		{"alice@example.co", false},
		{"alice@example.com.evil", false},
		{"lice@example.com", false},
		{"alice", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := alice.HasAddress(tt.addr); got != tt.want {
			t.Errorf("HasAddress(%q) = %v, want %v", tt.addr, got, tt.want)
		}
		u, ok := v.UserByMail(tt.addr)
		if byMail := ok && u.ID == alice.ID; byMail != tt.want {
			t.Errorf("UserByMail(%q) is alice: %v, HasAddress says %v", tt.addr, byMail, tt.want)
		}
	}
}
