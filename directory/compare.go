package directory

import (
	"context"
	"errors"
	"log/slog"

	"github.com/ldapgate/ldapgate/internal/clientlog"
)

// Compare decides whether the entry dn holds attr with a value equal to
// value under the attribute's equality rule (RFC 4511 §4.10), as id sees
// the directory. It returns nil for compareTrue, and an *Error otherwise:
// compareFalse when the entry has attr but no such value; noSuchAttribute
// when it has no attr; undefinedAttributeType for a type the directory does
// not know; noSuchObject (with MatchedDN) for an entry that does not exist
// or id may not read; insufficientAccessRights for anonymous callers
// outside the RootDSE and cn=Subschema; invalidDNSyntax.
func (d *Directory) Compare(ctx context.Context, id Identity, dn, attr, value string) error {
	err := d.compare(id, dn, attr, value)
	d.log.LogAttrs(ctx, slog.LevelDebug, "ldap compare", slog.String("dn", clientlog.Text(dn)), slog.String("attr", clientlog.Text(attr)),
		slog.String("result", ResultOf(err).Code.String()), slog.String("bound", id.DN), clientlog.ConnAttr(ctx))
	return err
}

func (d *Directory) compare(id Identity, dn, attr, value string) error {
	rdns, err := normRDNs(dn)
	if err != nil {
		if !mayReadTree(id) {
			return errAnonymous()
		}
		return &Error{Code: ResultInvalidDNSyntax, Message: "invalid DN syntax", Err: err}
	}
	var e *Entry
	switch ndn := joinRDNs(rdns); {
	case ndn == "":
		e = d.rootDSE
	case ndn == subschemaNormalised:
		e = d.subschema
	case !mayReadTree(id):
		return errAnonymous()
	default:
		t := d.trees.get(d.live)
		if t.view.NeverSynced {
			return errNoData()
		}
		var self string
		if id.Kind == IdentityUser {
			self, _ = normDN(id.DN)
		}
		found, ok := t.lookup(ndn)
		if !ok || !canRead(id, found) {
			return &Error{Code: ResultNoSuchObject, Message: "no such object", MatchedDN: t.matched(id, rdns, self)}
		}
		e = found
	}
	def := lookupAttr(attr)
	if def == nil {
		return &Error{Code: ResultUndefinedAttributeType, Message: "undefined attribute type", Err: errors.New(attr)}
	}
	a, ok := e.attr(def)
	if !ok {
		return &Error{Code: ResultNoSuchAttribute, Message: "no such attribute"}
	}
	norm, ok := def.normalize(value)
	if ok {
		it := a.norms()
		for n, ok := it.next(); ok; n, ok = it.next() {
			if n == norm {
				return nil
			}
		}
	}
	return &Error{Code: ResultCompareFalse}
}

func joinRDNs(rdns []string) string {
	switch len(rdns) {
	case 0:
		return ""
	case 1:
		return rdns[0]
	}
	n := len(rdns) - 1
	for _, r := range rdns {
		n += len(r)
	}
	b := make([]byte, 0, n)
	for i, r := range rdns {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, r...)
	}
	return string(b)
}
