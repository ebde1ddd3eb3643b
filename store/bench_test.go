package store

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// bigPlan adds users users, groups groups, perUser group memberships per
// user and one default grant per user.
func bigPlan(users, groups, perUser int) *Plan {
	p := &Plan{}
	for g := range groups {
		grp := Group{ID: "g" + strconv.Itoa(g), CN: fmt.Sprintf("group%05d", g), Email: fmt.Sprintf("group%05d@example.com", g),
			Name: fmt.Sprintf("Group %d", g)}
		p.Groups = append(p.Groups, GroupChange{Action: ActionAdd, Group: grp, Reason: "new in source"})
	}
	created := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range users {
		u := User{
			ID: strconv.Itoa(100000000000 + i), UID: fmt.Sprintf("user%06d", i), PrimaryEmail: fmt.Sprintf("user%06d@example.com", i),
			Aliases:   []string{fmt.Sprintf("u%06d@example.org", i)},
			GivenName: "Given", FamilyName: fmt.Sprintf("Family%d", i), DisplayName: fmt.Sprintf("Given Family%d", i),
			OrgUnitPath: "/Staff", SourceCreated: created, LastLogin: created.Add(time.Duration(i) * time.Minute), Origin: OriginDirectory,
		}
		p.Users = append(p.Users, UserChange{Action: ActionAdd, User: u, Reason: "new in source"})
		p.Grants = append(p.Grants, GrantChange{Action: ActionAdd, UserEmail: u.PrimaryEmail, Reason: "default",
			Grant: Grant{UserID: u.ID, Privilege: "login", Origin: GrantDefault}})
		for k := range perUser {
			g := p.Groups[(i+k*groups/perUser)%groups].Group
			p.Members = append(p.Members, MemberChange{Action: ActionAdd, GroupID: g.ID, GroupEmail: g.Email,
				Member: Member{Type: MemberUser, ID: u.ID, Email: u.PrimaryEmail}, Reason: "member in the source"})
		}
	}
	return p
}

// BenchmarkApplyAndLoad applies a first sync of 10,000 or 100,000 users
// (with a twentieth as many groups, three memberships and a grant per user)
// to an empty store, then loads the state and builds the view from it, on
// each backend. It reports the two phases separately.
func BenchmarkApplyAndLoad(b *testing.B) {
	for _, size := range []struct {
		name  string
		users int
	}{{"10k", 10_000}, {"100k", 100_000}} {
		groups, perUser := size.users/20, 3
		plan := bigPlan(size.users, groups, perUser)
		for _, be := range backends {
			b.Run(size.name+"/"+be.name, func(b *testing.B) {
				benchApplyAndLoad(b, be, plan, size.users, groups, perUser)
			})
		}
	}
}

func benchApplyAndLoad(b *testing.B, be backend, plan *Plan, users, groups, perUser int) {
	var apply, load time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db := be.openAt(b, be.fresh(b))
		b.StartTimer()

		start := time.Now()
		if _, err := db.Apply(b.Context(), plan, SyncRun{StartedAt: start, Source: "bench"}); err != nil {
			b.Fatal(err)
		}
		applied := time.Now()
		st, err := db.LoadState(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		v := NewView(st, nil, time.Now())
		apply += applied.Sub(start)
		load += time.Since(applied)

		b.StopTimer()
		if len(v.Users) != users || len(v.Groups) != groups || len(v.Users[0].Groups) != perUser {
			b.Fatalf("view has %d users, %d groups, %d groups of the first user",
				len(v.Users), len(v.Groups), len(v.Users[0].Groups))
		}
		b.StartTimer()
	}
	b.ReportMetric(apply.Seconds()/float64(b.N), "apply-s/op")
	b.ReportMetric(load.Seconds()/float64(b.N), "load+view-s/op")
}

// BenchmarkDeleteAndReturn10k deletes 10,000 users (with 30,000
// memberships and a grant each) in one apply, then adds them back, with
// tombstones kept (the default) and without (deleted_retention: 0s). It
// reports the two phases separately: what tombstones cost a mass deletion,
// and what restoring from them costs.
func BenchmarkDeleteAndReturn10k(b *testing.B) {
	const users, groups, perUser = 10_000, 100, 3
	seed := bigPlan(users, groups, perUser)
	del, back := &Plan{}, &Plan{Users: seed.Users, Grants: seed.Grants, Members: seed.Members}
	for _, c := range seed.Users {
		del.Users = append(del.Users, UserChange{Action: ActionDelete, User: c.User, Reason: "deleted in the source"})
	}
	for _, tc := range []struct {
		name      string
		retention time.Duration
	}{{"tombstones", DefaultDeletedRetention}, {"none", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			var deleting, returning time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				db := openPath(b, filepath.Join(b.TempDir(), "ldapgate.db"))
				db.DeletedRetention = tc.retention
				if _, err := db.Apply(b.Context(), seed, SyncRun{Source: "bench"}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				if _, err := db.Apply(b.Context(), del, SyncRun{Source: "bench"}); err != nil {
					b.Fatal(err)
				}
				deleted := time.Now()
				if tc.retention > 0 { // the engine plans no default grants for returning users
					if _, err := db.Apply(b.Context(), &Plan{Users: back.Users, Members: back.Members}, SyncRun{Source: "bench"}); err != nil {
						b.Fatal(err)
					}
				} else if _, err := db.Apply(b.Context(), back, SyncRun{Source: "bench"}); err != nil {
					b.Fatal(err)
				}
				deleting += deleted.Sub(start)
				returning += time.Since(deleted)
				b.StopTimer()
				if err := db.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(deleting.Seconds()/float64(b.N), "delete-s/op")
			b.ReportMetric(returning.Seconds()/float64(b.N), "return-s/op")
		})
	}
}
