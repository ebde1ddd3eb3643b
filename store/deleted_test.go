package store

import (
	"context"
	"errors"
	"testing"
)

// deleteBob applies the deletion of bob, who has an app password.
func deleteBob(t *testing.T, db *DB) {
	t.Helper()
	mustApply(t, db, seedPlan())
	if _, err := db.CreateAppPassword(context.Background(), AppPassword{UserID: bob.ID, Name: "archive", Hash: testHash}); err != nil {
		t.Fatal(err)
	}
	mustApply(t, db, &Plan{Users: []UserChange{{Action: ActionDelete, User: bob, Reason: "deleted in the source"}}})
}

func testRestoreFromTombstone(t *testing.T, be backend) {
	ctx := context.Background()
	t.Run("restore", func(t *testing.T) {
		db, clk := be.openTest(t)
		deleteBob(t, db)
		clk.t = t1
		mustApply(t, db, &Plan{Users: []UserChange{{Action: ActionAdd, User: bob, Restore: true}}})
		st := mustLoad(t, db)
		if len(st.Deleted) != 0 || !st.Users[1].CreatedAt.Equal(t0) {
			t.Errorf("after the restore: tombstones %v, bob created %s; want none and %s", st.Deleted, st.Users[1].CreatedAt, t0)
		}
		if aps, _ := db.ActiveAppPasswords(ctx, bob.ID); len(aps) != 1 {
			t.Errorf("bob has %d active app passwords after the restore, want 1", len(aps))
		}
	})
	t.Run("tombstone purged since the plan", func(t *testing.T) {
		db, _ := be.openTest(t)
		deleteBob(t, db)
		if _, err := db.PurgeDeletedUsers(ctx, bob.ID); err != nil {
			t.Fatal(err)
		}
		_, err := db.Apply(ctx, &Plan{Users: []UserChange{{Action: ActionAdd, User: bob, Restore: true}}}, SyncRun{})
		if !errors.Is(err, ErrStale) {
			t.Fatalf("restore without a tombstone: %v, want ErrStale", err)
		}
	})
	t.Run("plain add drops a stale tombstone", func(t *testing.T) {
		db, clk := be.openTest(t)
		deleteBob(t, db)
		clk.t = t1
		mustApply(t, db, &Plan{Users: []UserChange{{Action: ActionAdd, User: bob}}})
		st := mustLoad(t, db)
		if len(st.Deleted) != 0 || !st.Users[1].CreatedAt.Equal(t1) {
			t.Errorf("after a plain add: tombstones %v, bob created %s; want none and %s", st.Deleted, st.Users[1].CreatedAt, t1)
		}
		if aps, _ := db.ActiveAppPasswords(ctx, bob.ID); len(aps) != 0 {
			t.Errorf("a plain add restored %d app passwords", len(aps))
		}
	})
	t.Run("no retention keeps no tombstone", func(t *testing.T) {
		db, _ := be.openTest(t)
		db.DeletedRetention = 0
		deleteBob(t, db)
		if n := count(t, db, `SELECT count(*) FROM deleted_users`); n != 0 {
			t.Errorf("%d tombstones kept with DeletedRetention 0", n)
		}
	})
}
