package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The plan kept in a sync_runs row is a compact record of the plan, not the
// plan itself: a first sync of 100,000 users plans ~100 MB of JSON, and the
// record of it is a fifth of that. The record keeps what a person reading
// the history needs (RecordedPlan says exactly what):
//
//   - users and groups added or updated: id, UID or CN, address, changed
//     fields and reason (their data is in the users and groups tables);
//   - users and groups deleted: the whole object as it was (it is gone);
//   - memberships: runs of changes to one group with the same action and
//     reason, each member as [type, id, address];
//   - grants: runs of changes to one user with the same action, each grant
//     as [privilege, origin, rule, reason].
//
// It is JSON, one record per line, starting with {"format":2, so that it
// stays readable with the sqlite3 shell. Rows written before it hold the
// plan's own JSON; decodePlanRecord reads both.
const planRecordPrefix = `{"format":2`

type userRecord struct {
	Action  Action   `json:"action"`
	ID      string   `json:"id"`
	UID     string   `json:"uid,omitempty"`
	Email   string   `json:"email,omitempty"`
	Fields  []string `json:"fields,omitempty"`
	Reason  string   `json:"reason"`
	Revoke  bool     `json:"revokeAppPasswords,omitempty"`
	Restore bool     `json:"restore,omitempty"`
	User    *User    `json:"user,omitempty"` // deletes only
}

type groupRecord struct {
	Action Action   `json:"action"`
	ID     string   `json:"id"`
	CN     string   `json:"cn,omitempty"`
	Email  string   `json:"email,omitempty"`
	Fields []string `json:"fields,omitempty"`
	Reason string   `json:"reason"`
	Group  *Group   `json:"group,omitempty"` // deletes only
}

type memberRecord struct {
	Action     Action      `json:"action"`
	GroupID    string      `json:"groupId"`
	GroupEmail string      `json:"groupEmail"`
	Reason     string      `json:"reason"`
	Members    [][3]string `json:"members"` // type, id, address
}

type grantRecord struct {
	Action    Action      `json:"action"`
	UserID    string      `json:"userId"`
	UserEmail string      `json:"userEmail"`
	Grants    [][4]string `json:"grants"` // privilege, origin, rule, reason
}

// planRecord is the decoded form of a record.
type planRecord struct {
	Format  int            `json:"format"`
	Users   []userRecord   `json:"users"`
	Groups  []groupRecord  `json:"groups"`
	Members []memberRecord `json:"members"`
	Grants  []grantRecord  `json:"grants"`
}

// encodePlanRecord returns the record of p. It writes the records one by
// one into a buffer sized from the plan, so that the plan is never held
// twice in memory.
func encodePlanRecord(p *Plan) (string, error) {
	var b strings.Builder
	b.Grow(64 + 160*len(p.Users) + 160*len(p.Groups) + 48*len(p.Members) + 64*len(p.Grants))
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	b.WriteString(planRecordPrefix)
	list := func(name string, n int, each func(i int) (any, int)) error {
		if n == 0 {
			return nil
		}
		b.WriteString(`,"` + name + `":[`)
		for i, first := 0, true; i < n; first = false {
			rec, next := each(i)
			if !first {
				b.WriteByte(',')
			}
			if err := enc.Encode(rec); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			i = next
		}
		b.WriteByte(']')
		return nil
	}
	err := list("users", len(p.Users), func(i int) (any, int) {
		c := &p.Users[i]
		r := userRecord{Action: c.Action, ID: c.User.ID, UID: c.User.UID, Email: c.User.PrimaryEmail, Fields: c.Fields, Reason: c.Reason, Revoke: c.RevokeAppPasswords, Restore: c.Restore}
		if c.Action == ActionDelete {
			r.User = &c.User
		}
		return &r, i + 1
	})
	if err == nil {
		err = list("groups", len(p.Groups), func(i int) (any, int) {
			c := &p.Groups[i]
			r := groupRecord{Action: c.Action, ID: c.Group.ID, CN: c.Group.CN, Email: c.Group.Email, Fields: c.Fields, Reason: c.Reason}
			if c.Action == ActionDelete {
				r.Group = &c.Group
			}
			return &r, i + 1
		})
	}
	var members [][3]string // reused across runs
	if err == nil {
		err = list("members", len(p.Members), func(i int) (any, int) {
			c := &p.Members[i]
			r := memberRecord{Action: c.Action, GroupID: c.GroupID, GroupEmail: c.GroupEmail, Reason: c.Reason}
			members = members[:0]
			j := i
			for ; j < len(p.Members); j++ {
				m := &p.Members[j]
				if m.Action != c.Action || m.GroupID != c.GroupID || m.GroupEmail != c.GroupEmail || m.Reason != c.Reason {
					break
				}
				members = append(members, [3]string{string(m.Member.Type), m.Member.ID, m.Member.Email})
			}
			r.Members = members
			return &r, j
		})
	}
	var grants [][4]string
	if err == nil {
		err = list("grants", len(p.Grants), func(i int) (any, int) {
			c := &p.Grants[i]
			r := grantRecord{Action: c.Action, UserID: c.Grant.UserID, UserEmail: c.UserEmail}
			grants = grants[:0]
			j := i
			for ; j < len(p.Grants); j++ {
				g := &p.Grants[j]
				if g.Action != c.Action || g.Grant.UserID != c.Grant.UserID || g.UserEmail != c.UserEmail {
					break
				}
				grants = append(grants, [4]string{g.Grant.Privilege, string(g.Grant.Origin), g.Grant.Rule, g.Reason})
			}
			r.Grants = grants
			return &r, j
		})
	}
	if err != nil {
		return "", err
	}
	b.WriteByte('}')
	return b.String(), nil
}

// decodePlanRecord reads a plan kept in a sync_runs row: a record (see
// encodePlanRecord), or the plan's own JSON as older versions wrote it.
func decodePlanRecord(s string) (*Plan, error) {
	if !strings.HasPrefix(s, planRecordPrefix) {
		p := new(Plan)
		if err := json.Unmarshal([]byte(s), p); err != nil {
			return nil, err
		}
		return p, nil
	}
	var r planRecord
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return nil, err
	}
	p := &Plan{}
	for _, u := range r.Users {
		c := UserChange{Action: u.Action, Fields: u.Fields, Reason: u.Reason, RevokeAppPasswords: u.Revoke, Restore: u.Restore}
		if u.User != nil {
			c.User = *u.User
		} else {
			c.User = User{ID: u.ID, UID: u.UID, PrimaryEmail: u.Email}
		}
		p.Users = append(p.Users, c)
	}
	for _, g := range r.Groups {
		c := GroupChange{Action: g.Action, Fields: g.Fields, Reason: g.Reason}
		if g.Group != nil {
			c.Group = *g.Group
		} else {
			c.Group = Group{ID: g.ID, CN: g.CN, Email: g.Email}
		}
		p.Groups = append(p.Groups, c)
	}
	for _, m := range r.Members {
		for _, mm := range m.Members {
			p.Members = append(p.Members, MemberChange{
				Action: m.Action, GroupID: m.GroupID, GroupEmail: m.GroupEmail, Reason: m.Reason,
				Member: Member{Type: MemberType(mm[0]), ID: mm[1], Email: mm[2]},
			})
		}
	}
	for _, g := range r.Grants {
		for _, gg := range g.Grants {
			p.Grants = append(p.Grants, GrantChange{
				Action: g.Action, UserEmail: g.UserEmail, Reason: gg[3],
				Grant: Grant{UserID: g.UserID, Privilege: gg[0], Origin: GrantOrigin(gg[1]), Rule: gg[2]},
			})
		}
	}
	return p, nil
}

// RecordedPlan returns what the sync history keeps of p (see
// DB.SyncRun): users and groups added or updated keep only their id,
// UID or CN and address besides the change's fields and reason; deleted
// ones are kept whole; memberships and grants are kept whole, without
// timestamps.
func RecordedPlan(p *Plan) *Plan {
	if p == nil {
		return nil
	}
	out := &Plan{}
	for _, c := range p.Users {
		if c.Action != ActionDelete {
			c.User = User{ID: c.User.ID, UID: c.User.UID, PrimaryEmail: c.User.PrimaryEmail}
		}
		out.Users = append(out.Users, c)
	}
	for _, c := range p.Groups {
		if c.Action != ActionDelete {
			c.Group = Group{ID: c.Group.ID, CN: c.Group.CN, Email: c.Group.Email}
		}
		out.Groups = append(out.Groups, c)
	}
	out.Members = append(out.Members, p.Members...)
	for _, c := range p.Grants {
		c.Grant.CreatedAt = time.Time{}
		out.Grants = append(out.Grants, c)
	}
	return out
}
