package googletest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// ServiceAccount is a Google Cloud service account with one key pair,
// generated for the test.
type ServiceAccount struct {
	Email     string
	ClientID  string
	ProjectID string
	KeyID     string
	Key       *rsa.PrivateKey
}

var (
	keyMu    sync.Mutex
	keyCache []*rsa.PrivateKey
)

// testKey returns the i-th RSA key of this process, generating it once:
// key generation is slow under the race detector.
func testKey(tb testing.TB, i int) *rsa.PrivateKey {
	tb.Helper()
	keyMu.Lock()
	defer keyMu.Unlock()
	for len(keyCache) <= i {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			tb.Fatal(err)
		}
		keyCache = append(keyCache, k)
	}
	return keyCache[i]
}

var saCount struct {
	sync.Mutex
	n int
}

// NewServiceAccount returns a service account named email (e.g.
// ldapgate@project.iam.gserviceaccount.com) with its own key. Keys come
// from a small per-process pool: the n-th account of a test process gets
// the n-th key, so distinct accounts of one test have distinct keys.
func NewServiceAccount(tb testing.TB, email string) *ServiceAccount {
	tb.Helper()
	saCount.Lock()
	n := saCount.n
	saCount.n++
	saCount.Unlock()
	return &ServiceAccount{
		Email:     email,
		ClientID:  fmt.Sprintf("1%020d", 4242+n),
		ProjectID: "ldapgate-test",
		KeyID:     fmt.Sprintf("%040x", 0xabc0+n),
		Key:       testKey(tb, n%4),
	}
}

// ServiceAccountFromJSON reads a service account from its JSON key (as
// written by JSONKey).
func ServiceAccountFromJSON(data []byte) (*ServiceAccount, error) {
	var k struct {
		ProjectID    string `json:"project_id"`
		PrivateKeyID string `json:"private_key_id"`
		PrivateKey   string `json:"private_key"`
		ClientEmail  string `json:"client_email"`
		ClientID     string `json:"client_id"`
	}
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, err
	}
	block, _ := pem.Decode([]byte(k.PrivateKey))
	if block == nil {
		return nil, fmt.Errorf("no PEM private key")
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := priv.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("not an RSA key")
	}
	return &ServiceAccount{Email: k.ClientEmail, ClientID: k.ClientID, ProjectID: k.ProjectID, KeyID: k.PrivateKeyID, Key: rk}, nil
}

// WithNewKey returns a copy of sa with another key (as after "add key" in
// the console); the server knows it only if registered.
func (sa *ServiceAccount) WithNewKey(tb testing.TB) *ServiceAccount {
	tb.Helper()
	c := *sa
	c.KeyID = sa.KeyID[:len(sa.KeyID)-4] + "beef"
	for i := range 5 {
		if k := testKey(tb, i); !k.Equal(sa.Key) {
			c.Key = k
			break
		}
	}
	return &c
}

// JSONKey returns the service account's JSON key file, with tokenURI as
// its token_uri.
func (sa *ServiceAccount) JSONKey(tb testing.TB, tokenURI string) []byte {
	tb.Helper()
	data, err := sa.MarshalJSONKey(tokenURI)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// MarshalJSONKey is JSONKey outside a test (a benchmark's fake server
// process).
func (sa *ServiceAccount) MarshalJSONKey(tokenURI string) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(sa.Key)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(map[string]string{
		"type":                        "service_account",
		"project_id":                  sa.ProjectID,
		"private_key_id":              sa.KeyID,
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                sa.Email,
		"client_id":                   sa.ClientID,
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   tokenURI,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"universe_domain":             "googleapis.com",
	}, "", "  ")
}

// GenerateServiceAccount returns a service account named email with a new
// key, outside a test (a benchmark's fake server process).
func GenerateServiceAccount(email string) (*ServiceAccount, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return &ServiceAccount{Email: email, ClientID: "100000000000000004242", ProjectID: "ldapgate-bench", KeyID: fmt.Sprintf("%040x", 0xbe4c), Key: k}, nil
}

// P12 returns the service account's key as a legacy P12 file, as Google
// issues them (a self-signed certificate and the key, 3DES/RC2).
func (sa *ServiceAccount) P12(tb testing.TB, password string) []byte {
	tb.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: sa.ClientID},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 365 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &sa.Key.PublicKey, sa.Key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	data, err := pkcs12.LegacyRC2.Encode(sa.Key, cert, nil, password)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// WriteFile writes data to name in a temporary folder of tb, mode 0600,
// and returns its path.
func WriteFile(tb testing.TB, name string, data []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}
