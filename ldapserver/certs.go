package ldapserver

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// CertReloader serves a certificate and key from files and reloads them
// when either file changes (checked at most once per CheckEvery), so a
// renewed certificate takes effect without a restart. A reload that fails
// (a half-written file, a key that does not match) is logged and the last
// good pair stays in use.
type CertReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time

	// CheckEvery is how often the files' modification times are looked
	// at; default 10s.
	CheckEvery time.Duration

	mu        sync.Mutex
	cert      *tls.Certificate
	certMod   time.Time
	keyMod    time.Time
	lastCheck time.Time
}

// NewCertReloader loads the pair once (an error here is fatal: there is no
// good pair to fall back on) and returns the reloader.
func NewCertReloader(certFile, keyFile string, log *slog.Logger) (*CertReloader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &CertReloader{certFile: certFile, keyFile: keyFile, log: log, now: time.Now, CheckEvery: 10 * time.Second}
	if err := r.load(); err != nil {
		return nil, err
	}
	r.lastCheck = r.now()
	return r, nil
}

func (r *CertReloader) load() error {
	cm, km, err := r.modTimes()
	if err != nil {
		return err
	}
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("ldap tls: %w", err)
	}
	r.cert, r.certMod, r.keyMod = &c, cm, km
	return nil
}

func (r *CertReloader) modTimes() (time.Time, time.Time, error) {
	cs, err := os.Stat(r.certFile)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("ldap tls: %w", err)
	}
	ks, err := os.Stat(r.keyFile)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("ldap tls: %w", err)
	}
	return cs.ModTime(), ks.ModTime(), nil
}

// GetCertificate is a tls.Config.GetCertificate that returns the current
// pair, reloading it first if the files changed.
func (r *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.lastCheck) >= r.CheckEvery {
		r.lastCheck = now
		cm, km, err := r.modTimes()
		switch {
		case err != nil:
			r.log.Warn("ldap tls certificate not reloaded; keeping the current one", "err", err)
		case !cm.Equal(r.certMod) || !km.Equal(r.keyMod):
			if err := r.load(); err != nil {
				r.log.Warn("ldap tls certificate not reloaded; keeping the current one", "err", err)
			} else {
				r.log.Info("ldap tls certificate reloaded", "cert_file", r.certFile)
			}
		}
	}
	return r.cert, nil
}

// TLSConfig returns a server TLS configuration (TLS 1.2 or newer) that
// takes its certificate from r.
func (r *CertReloader) TLSConfig() *tls.Config {
	return &tls.Config{GetCertificate: r.GetCertificate, MinVersion: tls.VersionTLS12}
}

// saslExternal is the SASL mechanism whose credentials are the TLS
// layer's client certificate (RFC 4422 Appendix A).
const saslExternal = "EXTERNAL"

// requestClientCerts returns cfg asking TLS clients for a certificate, so
// that SASL EXTERNAL can bind with it. The chain is not verified: an
// account names its certificate by fingerprint, and the handshake proves
// the client holds its key. A client without a certificate is served as
// before.
func requestClientCerts(cfg *tls.Config) *tls.Config {
	if cfg == nil || cfg.ClientAuth != tls.NoClientCert {
		return cfg
	}
	cfg = cfg.Clone()
	cfg.ClientAuth = tls.RequestClientCert
	return cfg
}
