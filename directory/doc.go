// Package directory is what ldapgate serves over LDAP, without the
// protocol: a read-only tree of users, groups, privilege groups and
// service accounts built from the current store.View, and the operations
// on it, taking parsed requests and giving answers as LDAP result codes.
//
//   - The tree (tree.go): built once per view (treeCache, shared by the
//     listeners through Beside), entries in preorder with their
//     attributes packed in BER (entry.go) so that a search copies them
//     into responses; DNs (dn.go), the schema (schema.go, schemadefs.go),
//     the POSIX (posix.go) and Active Directory views, the users' extra
//     attributes (userattrs.go), the RootDSE and cn=Subschema (rootdse.go).
//   - Searches (search.go): Directory.Search is the one search path, for
//     the LDAP server and the tests alike. Filters (filter.go) parse from
//     RFC 4515 text or BER; access rules (access.go) decide what a bound
//     identity sees; result sets are paged (paging.go: a Page resumes a
//     read on the tree it started on) and sorted (sort.go). Entries go to
//     the caller's emit function straight from the tree: no copy, no
//     allocation per entry.
//   - Binds (bind.go): a name is resolved on the tree (service account,
//     user, unknown), then the failed-bind limiter (limiter.go) and the
//     check: a service account's hash through passhash and the verified
//     cache (bindcache.go), a user through the UserAuthenticator (the
//     gateway's bind chain), a client certificate for SASL EXTERNAL
//     (external.go). Refusals wrap ErrRefused (Refused, Refusal).
//   - Compare (compare.go), refused writes (Write), reloadable settings
//     (reload.go: service accounts and bind limits), the Observer of binds.
//
// The protocol side is package ldapserver, which imports this one.
package directory
