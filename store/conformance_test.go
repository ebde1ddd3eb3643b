package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ldapgate/ldapgate/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// backend is a store engine under test, as dex's storage/conformance takes
// a constructor: every behaviour test runs on each.
type backend struct {
	name string
	// fresh returns where a new, empty store lives: a file path, a DSN.
	fresh func(tb testing.TB) string
	// open opens the store at where.
	open func(ctx context.Context, where string) (*DB, error)
}

var backends = []backend{
	{
		name:  "sqlite",
		fresh: func(tb testing.TB) string { return filepath.Join(tb.TempDir(), "data", "ldapgate.db") },
		open:  Open,
	},
	{
		name:  "postgres",
		fresh: pgtest.DSN,
		open:  OpenPostgres,
	},
}

// openAt opens the store at where, closed when the test ends.
func (b backend) openAt(tb testing.TB, where string) *DB {
	tb.Helper()
	db, err := b.open(context.Background(), where)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return db
}

// openTest opens a fresh store with its clock at t0.
func (b backend) openTest(tb testing.TB) (*DB, *clock) {
	tb.Helper()
	db := b.openAt(tb, b.fresh(tb))
	c := &clock{t: t0}
	db.Now = c.now
	return db, c
}

// conformance is every behaviour of the store; each backend passes all.
var conformance = []struct {
	name string
	test func(t *testing.T, b backend)
}{
	{"AppPasswords", testAppPasswords},
	{"AppPasswordLimit", testAppPasswordLimit},
	{"ChangesSeesOtherConnections", testChangesSeesOtherConnections},
	{"ChangesNotices", testChangesNotices},
	{"RestoreFromTombstone", testRestoreFromTombstone},
	{"ApplyBusy", testApplyBusy},
	{"UserAttributes", testUserAttributes},
	{"UserPOSIXAccount", testUserPOSIXAccount},
	{"LoadStateEmpty", testLoadStateEmpty},
	{"ApplyRoundTrip", testApplyRoundTrip},
	{"LoadStateOrder", testLoadStateOrder},
	{"ApplyFailsAtomically", testApplyFailsAtomically},
	{"ApplyManyFailsOnOne", testApplyManyFailsOnOne},
	{"ApplyLeavesLocalUsersAlone", testApplyLeavesLocalUsersAlone},
	{"ForeignKeysCascade", testForeignKeysCascade},
	{"OpenTwice", testOpenTwice},
	{"NewerSchemaRefused", testNewerSchemaRefused},
	{"SyncRuns", testSyncRuns},
	{"SyncRunPhases", testSyncRunPhases},
	{"PutLocalUser", testPutLocalUser},
	{"AdminGrants", testAdminGrants},
	{"Stats", testStats},
	{"ReadDuringWrite", testReadDuringWrite},
	{"ApplyRecreatedAddress", testApplyRecreatedAddress},
	{"SyncRunHistoryBounded", testSyncRunHistoryBounded},
	{"ApplyStalePlan", testApplyStalePlan},
	{"LastSuccessfulRunKept", testLastSuccessfulRunKept},
	{"Leases", testLeases},
	{"PortalSessions", testPortalSessions},
}

func TestConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, c := range conformance {
				t.Run(c.name, func(t *testing.T) { c.test(t, b) })
			}
		})
	}
}

// The phases of a run read back as recorded, from Apply and RecordRun,
// and as SetRunPhases completes them; a run without them reads as zeros.
func testSyncRunPhases(t *testing.T, be backend) {
	db, _ := be.openTest(t)
	ctx := t.Context()
	failed, err := db.RecordRun(ctx, SyncRun{Source: "google", Phases: Phases{FetchMS: 61_000}, Error: "fetch: boom"})
	if err != nil {
		t.Fatal(err)
	}
	none, err := db.RecordRun(ctx, SyncRun{Source: "google", Error: "no phases"})
	if err != nil {
		t.Fatal(err)
	}
	applied, err := db.Apply(ctx, seedPlan(), SyncRun{Source: "google", Phases: Phases{FetchMS: 60_500, PlanMS: 1_200}})
	if err != nil {
		t.Fatal(err)
	}
	done := Phases{FetchMS: 60_500, PlanMS: 1_200, ApplyMS: 9_800, FinishMS: 3}
	if err := db.SetRunPhases(ctx, applied, done); err != nil {
		t.Fatal(err)
	}
	if err := db.SetRunPhases(ctx, applied+100, done); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetRunPhases of no run: %v, want ErrNotFound", err)
	}
	want := map[int64]Phases{failed: {FetchMS: 61_000}, none: {}, applied: done}
	runs, err := db.SyncRuns(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[int64]Phases)
	for _, r := range runs {
		got[r.ID] = r.Phases
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("phases by run (-got +want):\n%s", diff)
	}
	r, err := db.SyncRun(ctx, applied)
	if err != nil {
		t.Fatal(err)
	}
	if r.Phases != done {
		t.Errorf("SyncRun(%d).Phases = %+v, want %+v", applied, r.Phases, done)
	}
}
