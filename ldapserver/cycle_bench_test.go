package ldapserver

import (
	"fmt"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// BenchmarkConnectCycle: connect, bind as a service account, search by
// uid, unbind, as clients that open a connection per lookup do (go-ldap on
// loopback; the client's cost is included).
func BenchmarkConnectCycle(b *testing.B) {
	s := newBenchServer(b)
	s.dir.Warm()
	addr := serve(b, s)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c, err := ldap.DialURL("ldap://" + addr)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Bind(archiveDN, archivePW); err != nil {
			b.Fatal(err)
		}
		r, err := ldapSearch(c, testBase, ldap.ScopeWholeSubtree, fmt.Sprintf("(uid=user%07d)", (i*7919)%benchUsers))
		if err != nil || len(r.Entries) != 1 {
			b.Fatalf("%v %v", r, err)
		}
		c.Close()
	}
}
