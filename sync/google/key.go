package google

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	googleoauth "golang.org/x/oauth2/google"
	"golang.org/x/oauth2/jwt"
	"software.sslmate.com/src/go-pkcs12"
)

// DefaultP12Password is the password of every P12 key Google issues.
const DefaultP12Password = "notasecret"

// KeyKind is the format of a service account key file.
type KeyKind string

const (
	// KeyJSON is a JSON key file, as the Google Cloud console issues them.
	KeyJSON KeyKind = "JSON"
	// KeyP12 is a legacy PKCS #12 key file.
	KeyP12 KeyKind = "P12"
)

// key is a loaded service account key. It holds the private key: never
// log it, never put it in an error.
type key struct {
	kind      KeyKind
	path      string
	email     string
	clientID  string // JSON keys only
	projectID string // JSON keys only
	keyID     string // JSON keys only
	tokenURI  string // JSON keys only
	jwt       *jwt.Config
}

// KeyError is a service account key file that cannot be used. Its message
// never contains key material.
type KeyError struct {
	Path    string
	Problem string // what is wrong
	Fix     string // what to do about it
	Err     error  // the underlying error, if any (never one carrying key material)
}

func (e *KeyError) Error() string {
	s := fmt.Sprintf("service account key %s: %s", e.Path, e.Problem)
	if e.Fix != "" {
		s += " (" + e.Fix + ")"
	}
	return s
}

func (e *KeyError) Unwrap() error { return e.Err }

// jsonKey is the part of a JSON key file ldapgate reads.
type jsonKey struct {
	Type         string          `json:"type"`
	ProjectID    string          `json:"project_id"`
	PrivateKeyID string          `json:"private_key_id"`
	PrivateKey   string          `json:"private_key"`
	ClientEmail  string          `json:"client_email"`
	ClientID     string          `json:"client_id"`
	TokenURI     string          `json:"token_uri"`
	Installed    json.RawMessage `json:"installed"`
	Web          json.RawMessage `json:"web"`
}

// loadKey reads the key file at path: a JSON key, or a P12 key of the
// service account email (password: p12Password, default "notasecret").
// scopes and subject go into the JWT config.
func loadKey(path, email, p12Password string, scopes []string, subject string) (*key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		ke := &KeyError{Path: path, Err: err}
		switch {
		case errors.Is(err, fs.ErrNotExist):
			ke.Problem = "the file does not exist"
			ke.Fix = "check source.google.service_account_key; relative paths are relative to the config file's folder"
		case errors.Is(err, fs.ErrPermission):
			ke.Problem = "permission denied"
			ke.Fix = fmt.Sprintf("let the user ldapgate runs as (uid %d) read it, e.g. chown it to that user and chmod 600", os.Getuid())
		default:
			ke.Problem = "cannot read the file: " + err.Error()
		}
		return nil, ke
	}
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
		return nil, &KeyError{Path: path, Problem: "the file is empty", Fix: "download the key again from the Google Cloud console (IAM & Admin > Service accounts > Keys)"}
	case trimmed[0] == '{':
		return loadJSONKey(path, data, scopes, subject)
	case bytes.HasPrefix(trimmed, []byte("-----BEGIN")):
		return nil, &KeyError{Path: path, Problem: "this is a PEM file, not a service account key",
			Fix: "download a JSON key (IAM & Admin > Service accounts > Keys > Add key > JSON)"}
	case data[0] == 0x30: // DER SEQUENCE: PKCS #12
		return loadP12Key(path, data, email, p12Password, scopes, subject)
	default:
		return nil, &KeyError{Path: path, Problem: "neither a JSON nor a P12 service account key",
			Fix: "download a JSON key (IAM & Admin > Service accounts > Keys > Add key > JSON)"}
	}
}

func loadJSONKey(path string, data []byte, scopes []string, subject string) (*key, error) {
	var jk jsonKey
	if err := json.Unmarshal(data, &jk); err != nil {
		return nil, &KeyError{Path: path, Problem: "not valid JSON", Fix: "download the key again"}
	}
	switch {
	case jk.Installed != nil || jk.Web != nil:
		return nil, &KeyError{Path: path, Problem: "this is an OAuth client ID file, not a service account key",
			Fix: "create a service account and download its JSON key (IAM & Admin > Service accounts > Keys > Add key > JSON)"}
	case jk.Type == "authorized_user":
		return nil, &KeyError{Path: path, Problem: "this is a user's credentials (from gcloud auth), not a service account key",
			Fix: "download a service account's JSON key (IAM & Admin > Service accounts > Keys > Add key > JSON)"}
	case jk.Type != "service_account":
		return nil, &KeyError{Path: path, Problem: fmt.Sprintf("the key's type is %q, expected \"service_account\"", jk.Type),
			Fix: "download a service account's JSON key (IAM & Admin > Service accounts > Keys > Add key > JSON)"}
	case jk.ClientEmail == "" || jk.PrivateKey == "":
		return nil, &KeyError{Path: path, Problem: "client_email or private_key is missing", Fix: "download the key again"}
	}
	if _, err := parseRSAKey([]byte(jk.PrivateKey)); err != nil {
		return nil, &KeyError{Path: path, Problem: "private_key is not an RSA private key in PEM", Fix: "download the key again"}
	}
	cfg, err := googleoauth.JWTConfigFromJSON(data, scopes...)
	if err != nil {
		// The library's errors name fields, never key material; still, keep
		// only our own words.
		return nil, &KeyError{Path: path, Problem: "the key cannot be used", Fix: "download the key again"}
	}
	cfg.Subject = subject
	return &key{
		kind: KeyJSON, path: path, email: jk.ClientEmail, clientID: jk.ClientID,
		projectID: jk.ProjectID, keyID: jk.PrivateKeyID, tokenURI: cfg.TokenURL, jwt: cfg,
	}, nil
}

func loadP12Key(path string, data []byte, email, password string, scopes []string, subject string) (*key, error) {
	if password == "" {
		password = DefaultP12Password
	}
	priv, _, err := pkcs12.Decode(data, password)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return nil, &KeyError{Path: path, Problem: "wrong P12 password",
				Fix: "Google's P12 keys use the password \"notasecret\"; if you changed it, set source.google.p12_password_env; or use a JSON key"}
		}
		return nil, &KeyError{Path: path, Problem: "not a readable P12 file", Fix: "download the key again, or use a JSON key"}
	}
	rk, ok := priv.(*rsa.PrivateKey)
	if !ok {
		return nil, &KeyError{Path: path, Problem: fmt.Sprintf("the P12 holds a %T, expected an RSA private key", priv), Fix: "use a JSON key"}
	}
	if email == "" {
		return nil, &KeyError{Path: path, Problem: "a P12 key does not name its service account",
			Fix: "set source.google.service_account_email to the service account's email (…@….iam.gserviceaccount.com)"}
	}
	der, err := x509.MarshalPKCS8PrivateKey(rk)
	if err != nil {
		return nil, &KeyError{Path: path, Problem: "cannot re-encode the P12's private key"}
	}
	cfg := &jwt.Config{
		Email:      email,
		PrivateKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		Scopes:     scopes,
		TokenURL:   googleoauth.JWTTokenURL,
		Subject:    subject,
	}
	return &key{kind: KeyP12, path: path, email: email, tokenURI: cfg.TokenURL, jwt: cfg}, nil
}

func parseRSAKey(pemData []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemData)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if rk, ok := k.(*rsa.PrivateKey); ok {
			return rk, nil
		}
		return nil, errors.New("not an RSA key")
	}
	return x509.ParsePKCS1PrivateKey(block.Bytes)
}

// describe says what the key is, for people.
func (k *key) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s key of service account %s", k.kind, k.email)
	if k.clientID != "" {
		fmt.Fprintf(&b, " (client ID %s", k.clientID)
		if k.projectID != "" {
			fmt.Fprintf(&b, ", project %s", k.projectID)
		}
		b.WriteString(")")
	}
	return b.String()
}
