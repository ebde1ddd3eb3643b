package engine

import (
	"slices"
	"strconv"
	"strings"
)

// nameRequest asks for an RDN value (a user UID or a group CN) for the
// object with the given id and email address.
type nameRequest struct {
	ID    string
	Email string
}

// assignNames gives each request a name that taken does not hold yet.
// taken maps lower-case names in use to the id of their holder; a request
// may take a name its own id holds. The preferred name is the address's
// local part in lower case. When several requests or a holder in taken
// want the same local part, requests in primaryDomain win over the others,
// then the lower address wins; the losers get
// "<local part>.<domain with dots replaced by dashes>", and if even that is
// taken, a "-2", "-3", ... suffix. The result depends only on the set of
// requests and taken, never on their order.
//
// taken is updated with the names given out.
func assignNames(reqs []nameRequest, taken map[string]string, primaryDomain string) map[string]string {
	primaryDomain = strings.ToLower(primaryDomain)
	reqs = slices.Clone(reqs)
	slices.SortFunc(reqs, func(a, b nameRequest) int {
		_, da := splitAddr(a.Email)
		_, db := splitAddr(b.Email)
		pa, pb := da == primaryDomain, db == primaryDomain
		switch {
		case pa && !pb:
			return -1
		case pb && !pa:
			return 1
		}
		if c := strings.Compare(strings.ToLower(a.Email), strings.ToLower(b.Email)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	free := func(name, id string) bool {
		holder, ok := taken[name]
		return !ok || holder == id
	}
	out := make(map[string]string, len(reqs))
	var losers []nameRequest
	for _, r := range reqs {
		local, _ := splitAddr(r.Email)
		if free(local, r.ID) {
			taken[local] = r.ID
			out[r.ID] = local
		} else {
			losers = append(losers, r)
		}
	}
	for _, r := range losers {
		local, domain := splitAddr(r.Email)
		base := local + "." + strings.ReplaceAll(domain, ".", "-")
		name := base
		for n := 2; !free(name, r.ID); n++ {
			name = base + "-" + strconv.Itoa(n)
		}
		taken[name] = r.ID
		out[r.ID] = name
	}
	return out
}

// splitAddr returns the lower-case local part and domain of an address.
func splitAddr(addr string) (local, domain string) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return addr, ""
	}
	return addr[:i], addr[i+1:]
}

// sameLocalPart reports whether two addresses have the same local part,
// ignoring case.
func sameLocalPart(a, b string) bool {
	la, _ := splitAddr(a)
	lb, _ := splitAddr(b)
	return la == lb
}
