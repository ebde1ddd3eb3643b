package store

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const testHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"

func addDirectoryUser(tb testing.TB, db *DB, id, uid string) {
	tb.Helper()
	mustApply(tb, db, &Plan{Users: []UserChange{{Action: ActionAdd, Reason: "test",
		User: User{ID: id, UID: uid, PrimaryEmail: uid + "@example.com", Origin: OriginDirectory}}}})
}

func testAppPasswords(t *testing.T, be backend) {
	ctx := context.Background()
	db, clk := be.openTest(t)
	addDirectoryUser(t, db, "u1", "alice")
	addDirectoryUser(t, db, "u2", "bob")

	a, err := db.CreateAppPassword(ctx, AppPassword{UserID: "u1", Name: " laptop ", Service: "archive", Hash: testHash})
	if err != nil {
		t.Fatal(err)
	}
	want := AppPassword{ID: a.ID, UserID: "u1", Name: "laptop", Service: "archive", Hash: testHash, CreatedAt: t0}
	if diff := cmp.Diff(a, want); diff != "" {
		t.Errorf("created (-got +want):\n%s", diff)
	}
	clk.t = t1
	b, err := db.CreateAppPassword(ctx, AppPassword{UserID: "u1", Name: "phone", Hash: testHash})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		ap   AppPassword
		want error
	}{
		{"same name, any case", AppPassword{UserID: "u1", Name: "LAPTOP", Hash: testHash}, ErrConflict},
		{"no such user", AppPassword{UserID: "nobody", Name: "x", Hash: testHash}, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := db.CreateAppPassword(ctx, tc.ap); !errors.Is(err, tc.want) {
				t.Errorf("CreateAppPassword = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := db.CreateAppPassword(ctx, AppPassword{UserID: "u1", Name: "plain", Hash: "secret"}); err == nil {
		t.Error("CreateAppPassword accepted a hash that is not argon2id")
	}

	if err := db.TouchAppPassword(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	list, err := db.AppPasswords(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	wantList := []AppPassword{
		{ID: b.ID, UserID: "u1", Name: "phone", CreatedAt: t1},
		{ID: a.ID, UserID: "u1", Name: "laptop", Service: "archive", CreatedAt: t0, LastUsedAt: t1},
	}
	if diff := cmp.Diff(list, wantList); diff != "" {
		t.Errorf("AppPasswords (-got +want):\n%s", diff)
	}

	// Another user cannot revoke it, and its id does not count as theirs.
	if err := db.RevokeAppPassword(ctx, "u2", a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke by another user = %v, want ErrNotFound", err)
	}
	if ok, _ := db.AppPasswordActive(ctx, "u2", a.ID); ok {
		t.Error("AppPasswordActive true for another user")
	}
	if ok, err := db.AppPasswordActive(ctx, "u1", a.ID); err != nil || !ok {
		t.Errorf("AppPasswordActive = %v, %v; want true", ok, err)
	}
	if err := db.RevokeAppPassword(ctx, "u1", a.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.RevokeAppPassword(ctx, "u1", a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second revoke = %v, want ErrNotFound", err)
	}
	if ok, _ := db.AppPasswordActive(ctx, "u1", a.ID); ok {
		t.Error("AppPasswordActive true after revoke")
	}
	active, err := db.ActiveAppPasswords(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 1 || active[0].ID != b.ID || active[0].Hash != testHash {
		t.Errorf("ActiveAppPasswords = %+v, want only %d with its hash", active, b.ID)
	}
	// A revoked name may be used again.
	if _, err := db.CreateAppPassword(ctx, AppPassword{UserID: "u1", Name: "laptop", Hash: testHash}); err != nil {
		t.Errorf("re-creating a revoked name: %v", err)
	}
	list, _ = db.AppPasswords(ctx, "u1")
	if len(list) != 3 || !list[2].Revoked || !list[2].RevokedAt.Equal(t1) {
		t.Errorf("AppPasswords after revoke = %+v, want 3 with the oldest revoked at t1", list)
	}

	// Deleting the user deletes its app passwords.
	mustApply(t, db, &Plan{Users: []UserChange{{Action: ActionDelete, Reason: "test",
		User: User{ID: "u1", UID: "alice", PrimaryEmail: "alice@example.com", Origin: OriginDirectory}}}})
	if n := count(t, db, `SELECT count(*) FROM app_passwords`); n != 0 {
		t.Errorf("%d app passwords left after the user was deleted", n)
	}
}

func testAppPasswordLimit(t *testing.T, be backend) {
	ctx := context.Background()
	db, _ := be.openTest(t)
	addDirectoryUser(t, db, "u1", "alice")
	var last AppPassword
	for i := range MaxActiveAppPasswords {
		var err error
		if last, err = db.CreateAppPassword(ctx, AppPassword{UserID: "u1", Name: string(rune('a' + i)), Hash: testHash}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.CreateAppPassword(ctx, AppPassword{UserID: "u1", Name: "one more", Hash: testHash}); !errors.Is(err, ErrLimit) {
		t.Fatalf("over the limit: %v, want ErrLimit", err)
	}
	if err := db.RevokeAppPassword(ctx, "u1", last.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateAppPassword(ctx, AppPassword{UserID: "u1", Name: "one more", Hash: testHash}); err != nil {
		t.Errorf("after a revoke: %v", err)
	}
}
