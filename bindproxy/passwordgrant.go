package bindproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"golang.org/x/oauth2"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/oidc"
	"github.com/ldapgate/ldapgate/store"
)

// PasswordGrantMethod checks the password with the identity provider's
// resource owner password credentials grant (RFC 6749 §4.3), then verifies
// the ID token it returns. For providers that support it (Keycloak,
// Entra ID, Okta); Google does not.
type PasswordGrantMethod struct {
	prov         *oidc.Provider
	clientSecret string
	httpClient   *http.Client
}

var _ Method = (*PasswordGrantMethod)(nil)

// NewPasswordGrantMethod returns the password grant method for the
// provider's client (its ClientID) with clientSecret. httpClient may be nil.
func NewPasswordGrantMethod(prov *oidc.Provider, clientSecret string, httpClient *http.Client) *PasswordGrantMethod {
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	return &PasswordGrantMethod{prov: prov, clientSecret: clientSecret, httpClient: httpClient}
}

// Name is "password_grant".
func (m *PasswordGrantMethod) Name() string { return MethodPasswordGrant }

// ErrGrantUnsupported means the provider refuses the password grant.
var ErrGrantUnsupported = errors.New("the identity provider does not support the password grant")

// Authenticate asks the provider for tokens with u's primary address and
// password, and accepts if it returns a valid ID token for u. Only the
// provider's invalid_grant, or a token for someone else, refuses; every
// other failure (the provider unreachable or failing, the grant not
// allowed for the client, a token that does not verify) means the password
// could not be checked.
func (m *PasswordGrantMethod) Authenticate(ctx context.Context, u *store.ViewUser, password string, _ net.Addr) (Credential, error) {
	ep, err := m.prov.Endpoint(ctx)
	if err != nil {
		return Credential{}, err
	}
	oc := oauth2.Config{ClientID: m.prov.Config().ClientID, ClientSecret: m.clientSecret, Endpoint: ep,
		Scopes: []string{"openid", "email"}}
	tok, err := oc.PasswordCredentialsToken(context.WithValue(ctx, oauth2.HTTPClient, m.httpClient), u.PrimaryEmail, password)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			switch re.ErrorCode {
			case "unsupported_grant_type", "unauthorized_client":
				return Credential{}, fmt.Errorf("%w (%s)", ErrGrantUnsupported, re.ErrorCode)
			case "invalid_grant":
				return Credential{}, directory.Refused("the identity provider refused the password")
			}
			return Credential{}, fmt.Errorf("token endpoint: %s", re.ErrorCode)
		}
		return Credential{}, fmt.Errorf("token endpoint: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Credential{}, errors.New("no id_token in the token response (is openid a scope of the client?)")
	}
	c, err := m.prov.VerifyIDToken(ctx, raw)
	if err != nil {
		return Credential{}, fmt.Errorf("the token of an accepted password: %w", err)
	}
	if !u.HasAddress(c.Email) {
		return Credential{}, fmt.Errorf("%w: token is for %s", errWrongUser, c.Email)
	}
	return Credential{Label: c.Email}, nil
}
