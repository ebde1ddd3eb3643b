// Package dirfiletest writes generated directory files, for benchmarks
// and load tests.
package dirfiletest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// Generate writes a directory file (the Directory API's JSON shapes, as
// ldapgate's file source reads it) of n users in example.com:
// user%07d@example.com with given and family names, one alias each, in one
// of 10 org units, and 100 groups group%03d@example.com, every user a
// member of two (i mod 100 and i/100 mod 100). bench/compare-slapd.sh
// serves it with ldapgate and loads the same entries, dumped from
// ldapgate, into slapd.
func Generate(w io.Writer, n int) error {
	type name struct {
		GivenName  string `json:"givenName"`
		FamilyName string `json:"familyName"`
		FullName   string `json:"fullName"`
	}
	type email struct {
		Address string `json:"address"`
		Primary bool   `json:"primary,omitempty"`
	}
	type user struct {
		ID           string   `json:"id"`
		PrimaryEmail string   `json:"primaryEmail"`
		Name         name     `json:"name"`
		Emails       []email  `json:"emails"`
		Aliases      []string `json:"aliases"`
		OrgUnitPath  string   `json:"orgUnitPath"`
		CreationTime string   `json:"creationTime"`
	}
	type group struct {
		ID    string `json:"id"`
		Email string `json:"email"`
		Name  string `json:"name"`
	}
	type member struct {
		ID     string `json:"id"`
		Email  string `json:"email"`
		Role   string `json:"role"`
		Type   string `json:"type"`
		Status string `json:"status"`
	}
	type members struct {
		Members []member `json:"members"`
	}
	const groups = 100
	var doc struct {
		Users struct {
			Users []user `json:"users"`
		} `json:"users"`
		Groups struct {
			Groups []group `json:"groups"`
		} `json:"groups"`
		Members map[string]members `json:"members"`
	}
	doc.Members = make(map[string]members, groups)
	gmail := func(g int) string { return fmt.Sprintf("group%03d@example.com", g) }
	for g := range groups {
		doc.Groups.Groups = append(doc.Groups.Groups, group{ID: fmt.Sprintf("0grp%011d", g), Email: gmail(g), Name: fmt.Sprintf("Group %d", g)})
	}
	for i := range n {
		mail := fmt.Sprintf("user%07d@example.com", i)
		u := user{
			ID:           fmt.Sprintf("1%020d", i),
			PrimaryEmail: mail,
			Name:         name{fmt.Sprintf("Given%d", i), fmt.Sprintf("Family%d", i), fmt.Sprintf("Given%d Family%d", i, i)},
			Emails:       []email{{Address: mail, Primary: true}, {Address: fmt.Sprintf("alias%07d@example.com", i)}},
			Aliases:      []string{fmt.Sprintf("alias%07d@example.com", i)},
			OrgUnitPath:  fmt.Sprintf("/Unit%d", i%10),
			CreationTime: "2024-01-02T03:04:05.000Z",
		}
		doc.Users.Users = append(doc.Users.Users, u)
		for _, g := range []int{i % groups, (i / groups) % groups} {
			m := doc.Members[gmail(g)]
			if len(m.Members) > 0 && m.Members[len(m.Members)-1].ID == u.ID {
				continue
			}
			m.Members = append(m.Members, member{ID: u.ID, Email: mail, Role: "MEMBER", Type: "USER", Status: "ACTIVE"})
			doc.Members[gmail(g)] = m
		}
	}
	bw := bufio.NewWriter(w)
	if err := json.NewEncoder(bw).Encode(&doc); err != nil {
		return err
	}
	return bw.Flush()
}
