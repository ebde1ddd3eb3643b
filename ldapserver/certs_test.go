package ldapserver

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writePair(t *testing.T, dir string, certs testCerts, mod time.Time) (string, string) {
	t.Helper()
	c := certs.server.Certificates[0]
	keyDER, err := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for f, b := range map[string][]byte{
		cf: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}),
		kf: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(f, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	return cf, kf
}

func TestCertReloader(t *testing.T) {
	dir := t.TempDir()
	first, second := testTLS(t), testTLS(t)
	cf, kf := writePair(t, dir, first, t0)
	clock := newFakeClock()
	r, err := NewCertReloader(cf, kf, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.now = clock.Now
	r.lastCheck = clock.Now()
	get := func() []byte {
		c, err := r.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Certificate[0]
	}
	if string(get()) != string(first.server.Certificates[0].Certificate[0]) {
		t.Fatal("not the first certificate")
	}
	writePair(t, dir, second, t1)
	if string(get()) != string(first.server.Certificates[0].Certificate[0]) {
		t.Error("reloaded before CheckEvery passed")
	}
	clock.Advance(time.Minute)
	if string(get()) != string(second.server.Certificates[0].Certificate[0]) {
		t.Error("not reloaded after the files changed")
	}
	// A broken file keeps the last good pair.
	if err := os.WriteFile(cf, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if string(get()) != string(second.server.Certificates[0].Certificate[0]) {
		t.Error("a broken file replaced the certificate")
	}
	if _, err := NewCertReloader(cf, kf, nil); err == nil {
		t.Error("NewCertReloader with a broken file succeeded")
	}
}
