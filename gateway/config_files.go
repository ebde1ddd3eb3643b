package gateway

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/ldapgate/ldapgate/bindproxy"
)

// CheckFiles checks what the config points at, as the running user: the
// files ldapgate reads exist and are readable (the directory file, the
// Google key, secrets, TLS certificates and keys, which must parse), and
// the store and the audit file can be written. LoadConfig checks only the
// config itself (and the password hash files), so that a config can be
// checked on another machine; ldapgate config check calls this as well.
func (c *Config) CheckFiles() ConfigErrors {
	var root *yaml.Node
	if data, err := os.ReadFile(c.path); err == nil {
		var doc yaml.Node
		if yaml.Unmarshal(data, &doc) == nil && len(doc.Content) > 0 {
			root = doc.Content[0]
		}
	}
	var errs ConfigErrors
	bad := func(key string, format string, args ...any) {
		line := 0
		if root != nil {
			line = lineOf(root, key)
		}
		errs = append(errs, &ConfigError{File: c.path, Line: line, Msg: key + ": " + fmt.Sprintf(format, args...)})
	}
	readable := func(key, path string) {
		if err := checkReadable(path); err != nil {
			bad(key, "%v", err)
		}
	}
	switch c.Source.Type {
	case "file":
		readable("source.file", c.SourceFile())
	case "google":
		readable("source.google.service_account_key", c.GoogleKeyFile())
	}
	if c.LDAP.TLS.CertFile != "" {
		if _, err := tls.LoadX509KeyPair(c.resolve(c.LDAP.TLS.CertFile), c.resolve(c.LDAP.TLS.KeyFile)); err != nil {
			bad("ldap.tls", "%v", err)
		}
	}
	if c.OIDC.ClientSecretFile != "" {
		readable("oidc.client_secret_file", c.resolve(c.OIDC.ClientSecretFile))
	}
	if c.HasBind(bindproxy.MethodUpstreamLDAP) {
		if _, err := c.UpstreamTLS(); err != nil {
			bad("upstream_ldap", "%v", err)
		}
	}
	if err := checkWritable(c.StorePath(), true); err != nil {
		bad("store.path", "%v", err)
	}
	if err := checkWritable(c.AuditFile(), false); err != nil {
		bad("audit.file", "%v", err)
	}
	return errs
}

func checkReadable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		_, who := runningUser()
		return fmt.Errorf("%w (as %s)", err, who)
	}
	return f.Close()
}

// checkWritable reports whether the running user can write the file at
// path (and, for a SQLite database, its -wal and -shm files), or create
// it in its folder (or create its folder). It writes nothing to an
// existing file; it creates and removes a scratch file in the folder.
func checkWritable(path string, sqlite bool) error {
	name, who := runningUser()
	files := []string{path}
	if sqlite {
		files = append(files, path+"-wal", path+"-shm")
	}
	for _, p := range files {
		if _, err := os.Stat(p); err != nil {
			continue // to be created: the folder is checked below
		}
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("%s is not writable by %s: %w; give it to that user (chown %s %s) or run ldapgate as its owner",
				p, who, errors.Unwrap(err), name, p)
		}
		f.Close()
	}
	// Find the folder that exists (ldapgate creates the ones missing).
	dir := filepath.Dir(path)
	for {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			break
		}
		dir = filepath.Dir(dir)
	}
	f, err := os.CreateTemp(dir, ".ldapgate-check-*")
	if err != nil {
		return fmt.Errorf("folder %s is not writable by %s: %w; ldapgate creates files there: give it to that user (chown %s %s) or run ldapgate as its owner",
			dir, who, errors.Unwrap(err), name, dir)
	}
	f.Close()
	return os.Remove(f.Name())
}

// runningUser names the user ldapgate runs as: its name for commands,
// and with its uid for messages.
func runningUser() (name, who string) {
	uid := strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil {
		return u.Username, "user " + u.Username + " (uid " + uid + ")"
	}
	return uid, "uid " + uid
}
