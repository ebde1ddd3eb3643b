// Package oidctest is a small OpenID Connect issuer for tests: discovery,
// JWKS, an authorization endpoint that signs in a preset user at once, and
// a token endpoint for the authorization code grant with PKCE (S256) and
// nonce, and optionally the password grant. It signs RS256 ID tokens with a
// key generated at start. Not for production use.
package oidctest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Issuer is a running test issuer.
type Issuer struct {
	URL          string
	ClientID     string
	ClientSecret string
	Key          *rsa.PrivateKey
	KeyID        string
	// Now is the issuer's clock for iat and exp.
	Now func() time.Time

	mu sync.Mutex
	// Login is who the authorization endpoint signs in; its claims are
	// merged into the ID token (email, email_verified, hd, ...).
	login map[string]any
	// passwords enables the password grant: username -> password.
	passwords map[string]string
	codes     map[string]codeGrant
	// Requests counts token endpoint requests, by grant type.
	requests map[string]int
	// keysDown makes the keys endpoint fail.
	keysDown bool
}

type codeGrant struct {
	clientID, redirectURI, challenge, nonce string
	claims                                  map[string]any
}

// New starts an issuer on httptest (closed by t.Cleanup) for the client
// "ldapgate-test" with secret "test-secret".
func New(tb testing.TB) *Issuer {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	is := &Issuer{ClientID: "ldapgate-test", ClientSecret: "test-secret", Key: key, KeyID: "k1", Now: time.Now,
		codes: make(map[string]codeGrant), requests: make(map[string]int)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", is.discovery)
	mux.HandleFunc("GET /keys", is.keys)
	mux.HandleFunc("GET /authorize", is.authorize)
	mux.HandleFunc("POST /token", is.token)
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	is.URL = srv.URL
	return is
}

// SetLogin sets the user the authorization endpoint signs in, as extra ID
// token claims (at least email).
func (is *Issuer) SetLogin(claims map[string]any) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.login = claims
}

// EnablePasswordGrant lets the token endpoint accept the password grant
// for username with password; the ID token carries claims.
func (is *Issuer) EnablePasswordGrant(username, password string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.passwords == nil {
		is.passwords = make(map[string]string)
	}
	is.passwords[username] = password
}

// Requests returns how many token requests of grantType were made.
func (is *Issuer) Requests(grantType string) int {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.requests[grantType]
}

// Claims returns valid ID token claims for email, for this issuer and
// client, valid for an hour; tests change them before Sign.
func (is *Issuer) Claims(email, hd string) map[string]any {
	now := is.Now()
	c := map[string]any{
		"iss": is.URL, "aud": is.ClientID, "sub": "sub-" + email, "email": email, "email_verified": true,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	if hd != "" {
		c["hd"] = hd
	}
	return c
}

// Sign returns claims as a compact RS256 JWS signed with the issuer's key.
func (is *Issuer) Sign(claims map[string]any) string {
	return SignWith(is.Key, is.KeyID, claims)
}

// SignWith signs claims with key (e.g. a key the issuer does not publish).
func SignWith(key *rsa.PrivateKey, kid string, claims map[string]any) string {
	enc := base64.RawURLEncoding
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": kid})
	body, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	input := enc.EncodeToString(hdr) + "." + enc.EncodeToString(body)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return input + "." + enc.EncodeToString(sig)
}

func (is *Issuer) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                is.URL,
		"authorization_endpoint":                is.URL + "/authorize",
		"token_endpoint":                        is.URL + "/token",
		"jwks_uri":                              is.URL + "/keys",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"grant_types_supported":                 []string{"authorization_code", "password"},
	})
}

// SetKeysDown makes the keys endpoint answer 503 (down) or serve the key.
func (is *Issuer) SetKeysDown(down bool) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keysDown = down
}

func (is *Issuer) keys(w http.ResponseWriter, _ *http.Request) {
	is.mu.Lock()
	down := is.keysDown
	is.mu.Unlock()
	if down {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	enc := base64.RawURLEncoding
	pub := is.Key.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": is.KeyID,
		"n": enc.EncodeToString(pub.N.Bytes()), "e": enc.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

// authorize signs in the preset user at once and redirects back with a
// code. It insists on PKCE S256, state and nonce.
func (is *Issuer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case q.Get("response_type") != "code":
		http.Error(w, "response_type must be code", http.StatusBadRequest)
		return
	case q.Get("client_id") != is.ClientID:
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		http.Error(w, "PKCE S256 required", http.StatusBadRequest)
		return
	case q.Get("state") == "" || q.Get("nonce") == "":
		http.Error(w, "state and nonce required", http.StatusBadRequest)
		return
	case !strings.Contains(" "+q.Get("scope")+" ", " openid "):
		http.Error(w, "scope must include openid", http.StatusBadRequest)
		return
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || redirect.Host == "" {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	is.mu.Lock()
	login := is.login
	code := rand.Text()
	is.codes[code] = codeGrant{clientID: q.Get("client_id"), redirectURI: q.Get("redirect_uri"),
		challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), claims: login}
	is.mu.Unlock()
	if login == nil {
		http.Error(w, "no user signed in (oidctest: SetLogin)", http.StatusForbidden)
		return
	}
	rq := redirect.Query()
	rq.Set("code", code)
	rq.Set("state", q.Get("state"))
	redirect.RawQuery = rq.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (is *Issuer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, "invalid_request")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	gt := r.PostForm.Get("grant_type")
	is.mu.Lock()
	is.requests[gt]++
	is.mu.Unlock()
	if id != is.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(is.ClientSecret)) != 1 {
		w.Header().Set("WWW-Authenticate", "Basic")
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	var claims map[string]any
	switch gt {
	case "authorization_code":
		is.mu.Lock()
		g, ok := is.codes[r.PostForm.Get("code")]
		delete(is.codes, r.PostForm.Get("code")) // codes are single use
		is.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if !ok || g.redirectURI != r.PostForm.Get("redirect_uri") ||
			base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
			tokenError(w, "invalid_grant")
			return
		}
		email, _ := g.claims["email"].(string)
		claims = is.Claims(email, "")
		for k, v := range g.claims {
			claims[k] = v
		}
		claims["nonce"] = g.nonce
	case "password":
		is.mu.Lock()
		pw, ok := is.passwords[r.PostForm.Get("username")]
		is.mu.Unlock()
		if !ok || subtle.ConstantTimeCompare([]byte(pw), []byte(r.PostForm.Get("password"))) != 1 {
			tokenError(w, "invalid_grant")
			return
		}
		claims = is.Claims(r.PostForm.Get("username"), "")
	default:
		tokenError(w, "unsupported_grant_type")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": rand.Text(), "token_type": "Bearer", "expires_in": 3600, "id_token": is.Sign(claims),
	})
}

func tokenError(w http.ResponseWriter, code string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		panic(fmt.Sprintf("oidctest: %v", err))
	}
}
