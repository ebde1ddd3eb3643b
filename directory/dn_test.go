package directory

import (
	"strings"
	"testing"
)

// slowNormDN is normDN through the general parser only.
func slowNormDN(s string) (string, error) {
	rdns, err := parseNormRDNs(s)
	if err != nil {
		return "", err
	}
	return strings.Join(rdns, ","), nil
}

var dnSamples = []string{
	"",
	" ",
	"dc=com",
	"uid=alice,ou=people,dc=example,dc=com",
	"UID=Alice,OU=People,DC=example,DC=com",
	"UID=Alice, OU=People,DC=example,DC=com",
	"commonName=Archive,ou=services,dc=example,dc=com",
	"CN=archive,ou=services,dc=example,dc=com",
	"2.5.4.3=archive,ou=services,dc=example,dc=com",
	"0.9.2342.19200300.100.1.1=bob,ou=people,dc=example,dc=com",
	"objectClass=top",
	"objectclass=top",
	"OBJECTCLASS=Top",
	"x-unknown=Value",
	"X-Unknown=Value",
	"uid=a.b-c_d@example.com,ou=people,dc=example,dc=com",
	"uid=a=b,dc=com",
	"uid=a+cn=b,dc=com",
	"uid=a;dc=com",
	"uid=a,,dc=com",
	",uid=a",
	"uid=a,",
	"=a,dc=com",
	"uid=,dc=com",
	"uid",
	"uid=#04024869",
	"uid=a#b",
	`uid=a\,b,dc=com`,
	`uid=a\2cb,dc=com`,
	"uid= alice ,dc=com",
	"uid=Ålice,dc=com",
	"uid=alice\x00,dc=com",
	"uid=al\"ice,dc=com",
	"uid=<alice>,dc=com",
	"averyveryveryveryverylongattributetypename=x",
	"averyveryveryveryverylongattributetypenameindeed=x",
	"cn=Straße",
}

func TestNormSimpleDN(t *testing.T) {
	for _, s := range dnSamples {
		t.Run(s, func(t *testing.T) {
			want, werr := slowNormDN(s)
			got, ok := normSimpleDN(s)
			if ok && (werr != nil || got != want) {
				t.Errorf("normSimpleDN(%q) = %q; general path %q, %v", s, got, want, werr)
			}
			n, err := normDN(s)
			if (err == nil) != (werr == nil) || n != want {
				t.Errorf("normDN(%q) = %q, %v; want %q, %v", s, n, err, want, werr)
			}
			rdns, err := normRDNs(s)
			wantRDNs, _ := parseNormRDNs(s)
			if (err == nil) != (werr == nil) || strings.Join(rdns, "|") != strings.Join(wantRDNs, "|") || len(rdns) != len(wantRDNs) {
				t.Errorf("normRDNs(%q) = %q, %v; want %q", s, rdns, err, wantRDNs)
			}
		})
	}
	for _, s := range []string{"uid=alice,ou=people,dc=example,dc=com", "UID=Alice,OU=People,DC=example,DC=com", "cn=archive,ou=services,dc=example,dc=com"} {
		if _, ok := normSimpleDN(s); !ok {
			t.Errorf("normSimpleDN(%q): not taken", s)
		}
	}
}

func TestNormSimpleDNAllocs(t *testing.T) {
	s := "cn=archive,ou=services,dc=example,dc=com"
	if n := testing.AllocsPerRun(100, func() { _, _ = normDN(s) }); n != 0 {
		t.Errorf("normDN of a normal DN: %v allocations, want 0", n)
	}
}

func FuzzNormDN(f *testing.F) {
	for _, s := range dnSamples {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := normSimpleDN(s)
		if !ok {
			return
		}
		want, err := slowNormDN(s)
		if err != nil || got != want {
			t.Fatalf("normSimpleDN(%q) = %q; general path %q, %v", s, got, want, err)
		}
	})
}
