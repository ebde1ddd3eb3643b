package bindproxy

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/ldapgate/ldapgate/directory"
	"github.com/ldapgate/ldapgate/oidc"
	"github.com/ldapgate/ldapgate/store"
)

// IDTokenVerifier verifies an ID token (signature, issuer, audience,
// expiry, verified email, allowed domain); *oidc.Provider is one.
type IDTokenVerifier interface {
	VerifyIDToken(ctx context.Context, raw string) (*oidc.Claims, error)
}

// IDTokenMethod accepts an ID token for the bound user as the password.
type IDTokenMethod struct{ v IDTokenVerifier }

var _ Method = (*IDTokenMethod)(nil)

// NewIDTokenMethod returns the ID token method over v.
func NewIDTokenMethod(v IDTokenVerifier) *IDTokenMethod { return &IDTokenMethod{v: v} }

// Name is "id_token".
func (m *IDTokenMethod) Name() string { return MethodIDToken }

// Authenticate verifies password as an ID token whose email is u's
// primary address or one of u's aliases. A cached result lasts no longer
// than the token.
func (m *IDTokenMethod) Authenticate(ctx context.Context, u *store.ViewUser, password string, _ net.Addr) (Credential, error) {
	if !oidc.LooksLikeJWT(password) {
		return Credential{}, ErrNotApplicable
	}
	c, err := m.v.VerifyIDToken(ctx, password)
	switch {
	case errors.Is(err, oidc.ErrUnreachable):
		return Credential{}, err
	case err != nil:
		return Credential{}, directory.Refusal(err)
	}
	if !u.HasAddress(c.Email) {
		return Credential{}, fmt.Errorf("%w: token is for %s", errWrongUser, c.Email)
	}
	return Credential{Expires: c.Expiry, Label: c.Email}, nil
}
