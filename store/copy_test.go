package store

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// A store with everything in it (directory, grants, app passwords,
// tombstones, history) copied into each engine reads back the same, and its
// ids go on where they were; a target with data is refused unless replaced.
func TestCopyTo(t *testing.T) {
	for _, from := range backends {
		for _, to := range backends {
			t.Run(from.name+"-to-"+to.name, func(t *testing.T) {
				src, _ := from.openTest(t)
				mustApply(t, src, seedPlan())
				if err := src.GrantAdmin(t.Context(), alice.ID, "export"); err != nil {
					t.Fatal(err)
				}
				if _, err := src.CreateAppPassword(t.Context(), AppPassword{UserID: alice.ID, Name: "mail", Hash: testHash, Selector: 7}); err != nil {
					t.Fatal(err)
				}
				// Bob's app password, the newest, is kept by his tombstone only.
				ap, err := src.CreateAppPassword(t.Context(), AppPassword{UserID: bob.ID, Name: "archive", Hash: testHash})
				if err != nil {
					t.Fatal(err)
				}
				mustApply(t, src, &Plan{Users: []UserChange{{Action: ActionDelete, User: bob, Reason: "deleted in the source"}}})
				if _, err := src.RecordRun(t.Context(), SyncRun{Source: "file", Error: "boom"}); err != nil {
					t.Fatal(err)
				}
				// Every column of a run is copied: its kind and phases too.
				if _, err := src.RecordRun(t.Context(), SyncRun{Source: "google", Kind: RunIncremental,
					Phases: Phases{FetchMS: 20, PlanMS: 3}, Error: "boom"}); err != nil {
					t.Fatal(err)
				}
				// A signed-in portal user, who stays signed in on the copy.
				session := PortalSession{Key: "c2Vzc2lvbg", UserID: alice.ID, Email: alice.PrimaryEmail, CSRF: "csrf",
					Expires: time.Now().Add(time.Hour).UTC().Truncate(time.Second)}
				if err := src.PutPortalSession(t.Context(), session); err != nil {
					t.Fatal(err)
				}
				wantState, wantRuns := mustLoad(t, src), mustRuns(t, src)
				wantDeleted, err := src.DeletedUsers(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				wantPlan, err := src.SyncRun(t.Context(), wantRuns[len(wantRuns)-1].ID)
				if err != nil {
					t.Fatal(err)
				}

				dst, _ := to.openTest(t)
				copied, err := src.CopyTo(t.Context(), dst, false)
				if err != nil {
					t.Fatal(err)
				}
				if copied["users"] != 2 || copied["deleted_app_passwords"] != 1 || copied["sync_runs"] != int64(len(wantRuns)) ||
					copied["portal_sessions"] != 1 {
					t.Errorf("copied %v", copied)
				}
				got := mustLoad(t, dst)
				if got.Generation <= wantState.Generation {
					t.Errorf("target generation %d, want above the source's %d", got.Generation, wantState.Generation)
				}
				got.Generation = wantState.Generation
				if diff := cmp.Diff(got, wantState); diff != "" {
					t.Errorf("copied state (-got +want):\n%s", diff)
				}
				if diff := cmp.Diff(mustRuns(t, dst), wantRuns); diff != "" {
					t.Errorf("copied runs (-got +want):\n%s", diff)
				}
				gotPlan, err := dst.SyncRun(t.Context(), wantPlan.ID)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(gotPlan, wantPlan); diff != "" {
					t.Errorf("copied run with its plan (-got +want):\n%s", diff)
				}
				gotDeleted, err := dst.DeletedUsers(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(gotDeleted, wantDeleted); diff != "" {
					t.Errorf("copied tombstones (-got +want):\n%s", diff)
				}
				gotSession, err := dst.PortalSession(t.Context(), session.Key)
				if err != nil {
					t.Fatalf("the portal session in the copy: %v", err)
				}
				if diff := cmp.Diff(gotSession, session); diff != "" {
					t.Errorf("copied portal session (-got +want):\n%s", diff)
				}
				// New ids go on after the copied ones, the tombstone's included.
				next, err := dst.CreateAppPassword(t.Context(), AppPassword{UserID: alice.ID, Name: "phone", Hash: testHash})
				if err != nil {
					t.Fatal(err)
				}
				if next.ID <= ap.ID {
					t.Errorf("new app password id %d, want above the copied %d", next.ID, ap.ID)
				}
				run, err := dst.RecordRun(t.Context(), SyncRun{Source: "file"})
				if err != nil {
					t.Fatal(err)
				}
				if run <= wantRuns[0].ID {
					t.Errorf("new run id %d, want above the copied %d", run, wantRuns[0].ID)
				}

				if _, err := src.CopyTo(t.Context(), dst, false); !errors.Is(err, ErrNotEmpty) {
					t.Fatalf("copy into a store with data: %v, want ErrNotEmpty", err)
				}
				if _, err := src.CopyTo(t.Context(), dst, true); err != nil {
					t.Fatalf("copy with replace: %v", err)
				}
				if diff := cmp.Diff(mustRuns(t, dst), wantRuns); diff != "" {
					t.Errorf("runs after a replacing copy (-got +want):\n%s", diff)
				}
			})
		}
	}
}
