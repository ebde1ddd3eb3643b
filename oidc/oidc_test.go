package oidc_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ldapgate/ldapgate/oidc"
	"github.com/ldapgate/ldapgate/oidc/oidctest"
)

func TestVerifyIDToken(t *testing.T) {
	is := oidctest.New(t)
	p := oidc.New(oidc.Config{Issuer: is.URL, ClientID: is.ClientID, AllowedDomains: []string{"example.com"}})
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	valid := func() map[string]any { return is.Claims("alice@example.com", "example.com") }
	with := func(k string, v any) string {
		c := valid()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return is.Sign(c)
	}
	tampered := func() string {
		tok := is.Sign(valid())
		parts := strings.Split(tok, ".")
		c := valid()
		c["email"] = "mallory@example.com"
		forged := strings.Split(is.Sign(c), ".")
		return parts[0] + "." + forged[1] + "." + parts[2]
	}()
	for _, tc := range []struct {
		name    string
		token   string
		wantErr string
		is      error
	}{
		{name: "valid", token: is.Sign(valid())},
		{name: "email_verified as string", token: with("email_verified", "true")},
		{name: "expired", token: with("exp", time.Now().Add(-time.Minute).Unix()), wantErr: "expired"},
		{name: "wrong audience", token: with("aud", "someone-else"), wantErr: "audience"},
		{name: "wrong issuer", token: with("iss", "https://issuer.invalid"), wantErr: "issuer"},
		{name: "tampered", token: tampered, wantErr: "signature"},
		{name: "unknown key", token: oidctest.SignWith(other, "k1", valid()), wantErr: "signature"},
		{name: "email not verified", token: with("email_verified", false), is: oidc.ErrEmailNotVerified},
		{name: "no hd", token: with("hd", nil), is: oidc.ErrDomain},
		{name: "other hd", token: with("hd", "example.org"), is: oidc.ErrDomain},
		{name: "no email", token: with("email", nil), is: oidc.ErrNoEmail},
		{name: "garbage", token: "a.b.c", wantErr: "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := p.VerifyIDToken(context.Background(), tc.token)
			switch {
			case tc.wantErr == "" && tc.is == nil:
				if err != nil {
					t.Fatalf("VerifyIDToken: %v", err)
				}
				if c.Email != "alice@example.com" || !c.EmailVerified || c.HostedDomain != "example.com" || c.Subject == "" {
					t.Errorf("claims = %+v", c)
				}
			case err == nil:
				t.Fatalf("VerifyIDToken accepted it: %+v", c)
			case errors.Is(err, oidc.ErrUnreachable):
				t.Errorf("VerifyIDToken = %v: a bad token taken for an unreachable issuer", err)
			case tc.is != nil && !errors.Is(err, tc.is):
				t.Errorf("VerifyIDToken = %v, want %v", err, tc.is)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("VerifyIDToken = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestDiscoveryRetried(t *testing.T) {
	p := oidc.New(oidc.Config{Issuer: "http://127.0.0.1:1", ClientID: "x"})
	if _, err := p.VerifyIDToken(context.Background(), "a.b.c"); err == nil || !strings.Contains(err.Error(), "discovery") ||
		!errors.Is(err, oidc.ErrUnreachable) {
		t.Errorf("VerifyIDToken with an unreachable issuer = %v, want a discovery error, ErrUnreachable", err)
	}
}

// When the issuer's keys cannot be fetched, a token is not checked: that
// is ErrUnreachable, not a bad signature. Once they can, it verifies.
func TestKeysUnreachable(t *testing.T) {
	is := oidctest.New(t)
	p := oidc.New(oidc.Config{Issuer: is.URL, ClientID: is.ClientID})
	is.SetKeysDown(true)
	tok := is.Sign(is.Claims("alice@example.com", "example.com"))
	if _, err := p.VerifyIDToken(context.Background(), tok); !errors.Is(err, oidc.ErrUnreachable) {
		t.Fatalf("keys down: %v, want ErrUnreachable", err)
	}
	is.SetKeysDown(false)
	if _, err := p.VerifyIDToken(context.Background(), tok); err != nil {
		t.Fatalf("keys back: %v", err)
	}
}

func TestLooksLikeJWT(t *testing.T) {
	is := oidctest.New(t)
	for s, want := range map[string]bool{
		is.Sign(is.Claims("a@example.com", "")): true,
		"abcd-efgh-ijkl-mnop":                   false,
		"abcdefghijklmnopqrstuvw.xyz":           false,
		"a.b.c":                                 false,
		"aaaaaaaaaaaa.bbbbbbbbbbbb.c c":         false,
	} {
		if got := oidc.LooksLikeJWT(s); got != want {
			t.Errorf("LooksLikeJWT(%q) = %v, want %v", s, got, want)
		}
	}
}
