package directory

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"net"
	"strings"
)

// Causes of failed EXTERNAL binds, for the log.
var (
	errNoClientCert   = Refused("no TLS client certificate")
	errUnknownCert    = Refused("client certificate is not a service account's")
	errCertNotValid   = Refused("client certificate is expired or not yet valid")
	errAuthzForbidden = Refused("authorization identity is not the certificate's account")
)

// BindExternal decides a SASL EXTERNAL bind (RFC 4513 §5.2.3): cert, the
// client certificate of the connection's TLS layer (nil: no TLS or no
// certificate), binds as the service account whose ClientCertSHA256 is its
// fingerprint, while it is valid. authzID, if not empty, must name that
// account ("dn:" and its DN). Without a certificate the bind fails with
// inappropriateAuthentication, otherwise with invalidCredentials; the
// failures count against the client address like failed simple binds.
func (d *Directory) BindExternal(ctx context.Context, cert *x509.Certificate, authzID string, client net.Addr) (Identity, error) {
	id, err := d.bindExternal(cert, authzID, client)
	d.logBind(ctx, "sasl_external", id.DN, client, err)
	return id, err
}

func (d *Directory) bindExternal(cert *x509.Certificate, authzID string, client net.Addr) (Identity, error) {
	if cert == nil {
		return Identity{}, &Error{Code: ResultInappropriateAuth, Message: "SASL EXTERNAL needs a TLS client certificate (StartTLS or LDAPS)", Err: errNoClientCert}
	}
	// A pinned certificate binds its service account whatever else failed
	// from the address, as a service account's password does.
	id, err := d.certIdentity(cert, authzID)
	if err != nil {
		lim := d.BindLimit()
		if ip, ok := ClientIP(client); ok && !lim.Trusted(ip) {
			d.limiter.fail("addr:"+ip.String(), lim.PerAddress)
		}
		return Identity{}, invalidCredentials(err)
	}
	return id, nil
}

func (d *Directory) certIdentity(cert *x509.Certificate, authzID string) (Identity, error) {
	ndn, ok := d.ext.dyn.Load().certs[sha256.Sum256(cert.Raw)]
	if !ok {
		return Identity{}, errUnknownCert
	}
	if now := d.now(); now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return Identity{}, errCertNotValid
	}
	if authzID != "" {
		dn, isDN := strings.CutPrefix(authzID, "dn:")
		if n, err := normDN(dn); !isDN || err != nil || n != ndn {
			return Identity{}, errAuthzForbidden
		}
	}
	sa, ok := d.serviceAccount(ndn)
	e, found := d.trees.get(d.live).lookup(ndn)
	if !ok || !found {
		return Identity{}, errUnknownCert // reloaded away since
	}
	return Identity{Kind: IdentityService, DN: e.dn, Name: sa.Name}, nil
}
