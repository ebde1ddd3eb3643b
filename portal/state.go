package portal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// pending is a sign-in in progress, as sealed in the state cookie.
type pending struct {
	State    string `json:"s"` // must equal the callback's state parameter
	Nonce    string `json:"n"`
	Verifier string `json:"v"` // PKCE
	Expires  int64  `json:"e"` // unix seconds
}

// sealer encrypts and authenticates sign-ins in progress (AES-256-GCM), so
// the browser carries them instead of the server: the verifier stays
// secret, and a forged or altered cookie does not open. The key is random
// per process unless the config gives one (Config.StateKey: ldapgate keeps
// it in the store), so that a sign-in started on one instance behind a load
// balancer ends on another.
type sealer struct{ aead cipher.AEAD }

// sealAD ties a sealed value to its use, so no other value sealed with
// the same key ever opens as a sign-in.
var sealAD = []byte("ldapgate sign-in state")

func newSealer(key []byte) (*sealer, error) {
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("sign-in state key: %w", err)
		}
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("sign-in state key: %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sign-in state key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sign-in state key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(p pending) (string, error) {
	plain, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("seal sign-in state: %w", err)
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal sign-in state: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, sealAD)), nil
}

var errBadState = errors.New("sign-in state cookie does not open")

func (s *sealer) open(v string) (pending, error) {
	var p pending
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(b) < s.aead.NonceSize() {
		return p, errBadState
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, b[:n], b[n:], sealAD)
	if err != nil {
		return p, errBadState
	}
	if err := json.Unmarshal(plain, &p); err != nil {
		return p, errBadState
	}
	return p, nil
}
