package dirapi

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	admin "google.golang.org/api/admin/directory/v1"

	"github.com/ldapgate/ldapgate/store"
)

func TestUserFromAPI(t *testing.T) {
	tests := []struct {
		name    string
		in      *admin.User
		want    store.User
		wantErr string
	}{
		{
			name: "full",
			in: &admin.User{
				Id:                 "100000000000000000001",
				PrimaryEmail:       "alice@example.com",
				Aliases:            []string{"al@example.com", "Alice.Martin@example.com", "AL@example.com", "ALICE@example.com"},
				NonEditableAliases: []string{"alice@example.com.test-google-a.com", "alice.martin@example.com"},
				Name:               &admin.UserName{GivenName: "Alice", FamilyName: "Martin", FullName: "Alice Martin", DisplayName: "Alice M."},
				OrgUnitPath:        "/Sales",
				Suspended:          true,
				Archived:           true,
				IsAdmin:            true,
				CreationTime:       "2019-03-04T09:10:11.000Z",
				LastLoginTime:      "2025-10-01T12:00:00.123+02:00",
			},
			want: store.User{
				ID:            "100000000000000000001",
				PrimaryEmail:  "alice@example.com",
				Aliases:       []string{"al@example.com", "Alice.Martin@example.com", "alice@example.com.test-google-a.com"},
				GivenName:     "Alice",
				FamilyName:    "Martin",
				DisplayName:   "Alice M.",
				OrgUnitPath:   "/Sales",
				Suspended:     true,
				Archived:      true,
				IsAdmin:       true,
				SourceCreated: time.Date(2019, 3, 4, 9, 10, 11, 0, time.UTC),
				LastLogin:     time.Date(2025, 10, 1, 10, 0, 0, 123e6, time.UTC),
				Origin:        store.OriginDirectory,
			},
		},
		{
			name: "display name falls back to full name; never logged in",
			in: &admin.User{
				Id: "2", PrimaryEmail: "bob@example.com",
				Name:          &admin.UserName{GivenName: "Bob", FamilyName: "Stone", FullName: "Robert Stone"},
				LastLoginTime: "1970-01-01T00:00:00.000Z",
			},
			want: store.User{ID: "2", PrimaryEmail: "bob@example.com", GivenName: "Bob", FamilyName: "Stone", DisplayName: "Robert Stone", Origin: store.OriginDirectory},
		},
		{
			name: "display name from given and family name",
			in:   &admin.User{Id: "3", PrimaryEmail: "c@example.com", Name: &admin.UserName{GivenName: "Carol", FamilyName: "King"}},
			want: store.User{ID: "3", PrimaryEmail: "c@example.com", GivenName: "Carol", FamilyName: "King", DisplayName: "Carol King", Origin: store.OriginDirectory},
		},
		{
			name: "no name",
			in:   &admin.User{Id: "4", PrimaryEmail: "d@example.com"},
			want: store.User{ID: "4", PrimaryEmail: "d@example.com", Origin: store.OriginDirectory},
		},
		{name: "missing id", in: &admin.User{PrimaryEmail: "e@example.com"}, wantErr: `user "e@example.com": missing id`},
		{name: "missing primary email", in: &admin.User{Id: "5"}, wantErr: "user id 5: missing primaryEmail"},
		{name: "bad creation time", in: &admin.User{Id: "6", PrimaryEmail: "f@example.com", CreationTime: "yesterday"}, wantErr: `user f@example.com: creationTime: not an RFC 3339 time: "yesterday"`},
		{name: "bad last login", in: &admin.User{Id: "7", PrimaryEmail: "g@example.com", LastLoginTime: "2025-13-01T00:00:00Z"}, wantErr: "lastLoginTime"},
		{name: "nil", in: nil, wantErr: "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UserFromAPI(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("UserFromAPI() error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("UserFromAPI() error = %v", err)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("UserFromAPI() (-got +want):\n%s", diff)
			}
		})
	}
}

func TestGroupFromAPI(t *testing.T) {
	tests := []struct {
		name    string
		in      *admin.Group
		want    store.Group
		wantErr string
	}{
		{
			name: "full",
			in: &admin.Group{
				Id: "03x", Email: "sales@example.com", Name: "Sales", Description: "Sales team",
				Aliases: []string{"vertrieb@example.com", "Sales@example.com"}, NonEditableAliases: []string{"sales@example.com.test-google-a.com", "VERTRIEB@example.com"},
				DirectMembersCount: 12,
			},
			want: store.Group{ID: "03x", Email: "sales@example.com", Name: "Sales", Description: "Sales team",
				Aliases: []string{"sales@example.com.test-google-a.com", "vertrieb@example.com"}},
		},
		{name: "missing id", in: &admin.Group{Email: "x@example.com"}, wantErr: `group "x@example.com": missing id`},
		{name: "missing email", in: &admin.Group{Id: "03y"}, wantErr: "group id 03y: missing email"},
		{name: "nil", in: nil, wantErr: "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := GroupFromAPI(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("GroupFromAPI() error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("GroupFromAPI() error = %v", err)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("GroupFromAPI() (-got +want):\n%s", diff)
			}
		})
	}
}

func TestMemberFromAPI(t *testing.T) {
	tests := []struct {
		name    string
		in      *admin.Member
		want    store.Member
		wantErr string
	}{
		{name: "user", in: &admin.Member{Type: "USER", Id: "1", Email: "a@example.com", Role: "OWNER"}, want: store.Member{Type: store.MemberUser, ID: "1", Email: "a@example.com"}},
		{name: "group", in: &admin.Member{Type: "GROUP", Id: "03x", Email: "g@example.com"}, want: store.Member{Type: store.MemberGroup, ID: "03x", Email: "g@example.com"}},
		{name: "customer", in: &admin.Member{Type: "CUSTOMER", Id: "C01"}, want: store.Member{Type: store.MemberCustomer, ID: "C01"}},
		{name: "lower-case type", in: &admin.Member{Type: "user", Id: "1"}, want: store.Member{Type: store.MemberUser, ID: "1"}},
		{name: "unknown type", in: &admin.Member{Type: "EXTERNAL", Id: "9", Email: "x@other.test"}, wantErr: `member "x@other.test": unknown member type "EXTERNAL"`},
		{name: "no type", in: &admin.Member{Id: "9"}, wantErr: `unknown member type ""`},
		{name: "missing id", in: &admin.Member{Type: "USER", Email: "a@example.com"}, wantErr: `member "a@example.com": missing id`},
		{name: "nil", in: nil, wantErr: "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MemberFromAPI(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("MemberFromAPI() error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("MemberFromAPI() error = %v", err)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("MemberFromAPI() (-got +want):\n%s", diff)
			}
		})
	}
}
