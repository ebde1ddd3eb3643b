package directory

import "strings"

// Access rules. Every read of an entry passes here.
//
//   - Anonymous connections read only the RootDSE and cn=Subschema; any
//     other search is refused with insufficientAccessRights, so a client
//     that forgot to bind learns why at once.
//   - Service accounts read every entry.
//   - Users read only their own entry (plus the RootDSE and cn=Subschema).
//     A search may start at their entry or one of its ancestors; any other
//     base answers noSuchObject, exactly as a DN that does not exist, and
//     entries they may not read are left out of results.

// publicEntry reports whether e is readable by everyone.
func publicEntry(e *Entry) bool { return e.kind == kindRootDSE || e.kind == kindSubschema }

// mayReadTree reports whether id may search the tree at all (beyond the
// RootDSE and cn=Subschema).
func mayReadTree(id Identity) bool { return id.Kind != IdentityAnonymous }

// canRead reports whether id may see e in a result.
func canRead(id Identity, e *Entry) bool {
	if publicEntry(e) {
		return true
	}
	switch id.Kind {
	case IdentityService:
		return true
	case IdentityUser:
		return e.kind == kindUser && e.userID == id.UserID
	}
	return false
}

// canSearchFrom reports whether id may use e as a search base, and see that
// it exists.
func canSearchFrom(id Identity, e *Entry, selfNDN string) bool {
	switch id.Kind {
	case IdentityService:
		return true
	case IdentityUser:
		return selfNDN != "" && (selfNDN == e.ndn || strings.HasSuffix(selfNDN, ","+e.ndn))
	}
	return publicEntry(e)
}
