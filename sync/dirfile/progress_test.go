package dirfile

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ldapgate/ldapgate/sync/progress"
)

func TestFetchProgress(t *testing.T) {
	p := new(progress.Progress)
	snap, err := New(demoFile).Fetch(progress.With(context.Background(), p))
	if err != nil {
		t.Fatal(err)
	}
	want := progress.Counts{Users: int64(len(snap.Users)), Groups: int64(len(snap.Groups)),
		MemberLists: int64(len(snap.Members)), GroupsInScope: int64(len(snap.Members)), ScopeKnown: true}
	for _, ms := range snap.Members {
		want.Members += int64(len(ms))
	}
	if want.Users == 0 || want.Groups == 0 || want.Members == 0 {
		t.Fatalf("demo snapshot counts %+v: expected some of each", want)
	}
	if got := p.Load(); got != want {
		t.Errorf("progress %+v, want %+v", got, want)
	}

	// A file that fails reports nothing.
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"users": {"users": [{"id": "1", "primaryEmail": "a@example.com"}]}, "members": {"x": {}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	p = new(progress.Progress)
	if _, err := New(bad).Fetch(progress.With(context.Background(), p)); err == nil {
		t.Fatal("Fetch of a bad file succeeded")
	}
	if got := p.Load(); got != (progress.Counts{}) {
		t.Errorf("progress after a failed fetch %+v, want nothing", got)
	}
}
