package ldapserver

import (
	"context"
	"net"
	"testing"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/internal/dirtest"
	"github.com/ldapgate/ldapgate/store"
)

// The shared fixture (internal/dirtest).
const (
	testBase       = dirtest.Base
	archiveDN      = dirtest.ArchiveDN
	archivePW      = dirtest.ArchivePW
	backupDN       = dirtest.BackupDN
	backupPW       = dirtest.BackupPW
	aliceDN        = dirtest.AliceDN
	aliceID        = dirtest.AliceID
	bobID          = dirtest.BobID
	carolID        = dirtest.CarolID
	daveID         = dirtest.DaveID
	staffID        = dirtest.StaffID
	engID          = dirtest.EngID
	devsID         = dirtest.DevsID
	devsDN         = dirtest.DevsDN
	engDN          = dirtest.EngDN
	staffDN        = dirtest.StaffDN
	loginDN        = dirtest.LoginDN
	readOwnDN      = dirtest.ReadOwnDN
	testVendorVers = dirtest.VendorVersion
)

var (
	t0, t1        = dirtest.T0, dirtest.T1
	testHashes    = dirtest.Hashes
	testState     = dirtest.State
	testLive      = dirtest.Live
	newFakeClock  = dirtest.NewClock
	newTestLogger = dirtest.NewLogger
	bigView       = dirtest.BigView
)

type (
	fakeClock = dirtest.Clock
	logBuffer = dirtest.LogBuffer
)

func testConfig(tb testing.TB) Config {
	tb.Helper()
	a, b := testHashes(tb)
	return Config{Directory: directory.Config{
		BaseDN:          testBase,
		ServiceAccounts: []directory.ServiceAccount{{Name: "archive", PasswordHash: a}, {Name: "backup", PasswordHash: b}},
		VendorVersion:   testVendorVers,
		// Refusals are answered at once: tests of the delay set their own.
		BindLimit: directory.BindLimit{FailureDelay: -1},
	}}
}

// appPassword lets every enabled user bind with one password.
type appPassword string

func (p appPassword) AuthenticateUser(_ context.Context, _ *store.ViewUser, pw string, _ net.Addr) error {
	if pw == string(p) {
		return nil
	}
	return directory.Refused("app password does not match")
}

// decodeMessage decodes a message's envelope into a new message.
func decodeMessage(b []byte) (*message, error) {
	m := new(message)
	if err := decodeMessageInto(m, b); err != nil {
		return nil, err
	}
	return m, nil
}
