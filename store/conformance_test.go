package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"

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
