// Package ldapserver is the LDAPv3 protocol side of ldapgate: it serves a
// directory.Directory (what is served: the tree, searches, binds) to LDAP
// clients.
//
// The BER codec is the project's own: the TLV reader and encoder of
// internal/ber, with the LDAP framing, messages and controls in ber.go
// (go-asn1-ber appears only in tests, and where the directory takes filter
// strings through go-ldap).
//
// Server (server.go) accepts connections, each with a reader and a
// buffered writer (conn.go, bufpool.go) on a shared worker pool
// (workers.go); limits on connections, message sizes, unfinished bytes
// and time; TLS, StartTLS and reloadable certificates (certs.go). Each
// request runs on a worker (ops.go): bind, search, compare, extended
// operations and refused writes are decoded there and handed to the
// directory; the paged results and sort controls are decoded and encoded
// in controls.go, their result sets are the directory's. Search results
// are encoded straight from the directory's tree (Selection.AppendEntry).
package ldapserver
