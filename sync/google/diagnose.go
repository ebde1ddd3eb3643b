package google

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	admin "google.golang.org/api/admin/directory/v1"

	"github.com/ldapgate/ldapgate/sync/dirapi"
)

// Status is the outcome of one check.
type Status string

const (
	// StatusOK is a check that passed.
	StatusOK Status = "ok"
	// StatusFailed is a check that failed; its Fix says what to do.
	StatusFailed Status = "failed"
	// StatusSkipped is a check not made because an earlier one failed.
	StatusSkipped Status = "skipped"
)

// Check is one step of "Test settings".
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Detail is what was found; Fix what to do about a failure.
	Detail string `json:"detail,omitempty"`
	Fix    string `json:"fix,omitempty"`
}

// Diagnosis is the outcome of Diagnose. It never holds secrets.
type Diagnosis struct {
	Checks []Check `json:"checks"`
	// ServiceAccount and ClientID identify the key's service account
	// (ClientID is empty for P12 keys); Scopes are the scopes ldapgate asks
	// for, as the domain-wide delegation page wants them.
	ServiceAccount string   `json:"serviceAccount,omitempty"`
	ClientID       string   `json:"clientId,omitempty"`
	Scopes         []string `json:"scopes"`
}

// OK reports whether every check passed.
func (d *Diagnosis) OK() bool {
	for _, c := range d.Checks {
		if c.Status != StatusOK {
			return false
		}
	}
	return true
}

// Failed returns the first failed check, or nil.
func (d *Diagnosis) Failed() *Check {
	for i := range d.Checks {
		if d.Checks[i].Status == StatusFailed {
			return &d.Checks[i]
		}
	}
	return nil
}

func (d *Diagnosis) add(name string, st Status, detail, fix string) {
	d.Checks = append(d.Checks, Check{Name: name, Status: st, Detail: detail, Fix: fix})
}

// skip marks the remaining checks as skipped.
func (d *Diagnosis) skip(names ...string) {
	for _, n := range names {
		d.add(n, StatusSkipped, "needs the checks above", "")
	}
}

// Diagnose checks the connection to Google step by step: the key file,
// the access token, impersonation of the admin, each scope, reading users,
// groups and members, and the filter's groups and org units. It stops at
// the first failure that makes the rest meaningless, and each failure says
// what to do. It makes a few small calls and changes nothing.
func (s *Source) Diagnose(ctx context.Context) *Diagnosis {
	scopes := s.Scopes()
	d := &Diagnosis{Scopes: scopes}
	later := []string{"access token", "impersonate " + s.cfg.AdminEmail}
	for _, sc := range scopes {
		later = append(later, "scope "+sc)
	}
	later = append(later, "read users", "read groups")
	if s.cfg.Changes {
		later = append(later, "read admin events")
	}

	c, err := s.connect(ctx, scopes, true)
	if err != nil {
		var ke *KeyError
		if errors.As(err, &ke) {
			d.add("key file", StatusFailed, ke.Path+": "+ke.Problem, ke.Fix)
		} else {
			d.add("key file", StatusFailed, oneLine(err), "")
		}
		d.skip(later...)
		return d
	}
	d.ServiceAccount, d.ClientID = c.key.email, c.key.clientID
	d.add("key file", StatusOK, fmt.Sprintf("%s: %s", c.key.path, c.key.describe()), "")

	// The token, with every scope. Google refuses the whole token if one
	// scope is not delegated, so on unauthorized_client each scope is
	// tried alone to tell which are missing.
	err = c.token(ctx)
	switch {
	case err == nil:
		d.add("access token", StatusOK, "obtained from "+c.key.jwt.TokenURL, "")
		d.add("impersonate "+s.cfg.AdminEmail, StatusOK, "domain-wide delegation accepted", "")
		for _, sc := range scopes {
			d.add("scope "+sc, StatusOK, "granted", "")
		}
	case isTokenError(err, "unauthorized_client"):
		d.add("access token", StatusOK, "the service account's key was accepted", "")
		var granted []string
		for _, sc := range scopes {
			one, cerr := s.connect(ctx, []string{sc}, true)
			if cerr == nil {
				cerr = one.token(ctx)
			}
			if cerr == nil {
				granted = append(granted, sc)
			}
		}
		fix := s.delegationFix(c.key, scopes)
		if len(granted) == 0 {
			d.add("impersonate "+s.cfg.AdminEmail, StatusFailed,
				"unauthorized_client: domain-wide delegation is not set up for this service account (or none of the scopes is delegated)", fix)
		} else {
			d.add("impersonate "+s.cfg.AdminEmail, StatusOK, "domain-wide delegation accepted for some scopes", "")
		}
		for _, sc := range scopes {
			if slices.Contains(granted, sc) {
				d.add("scope "+sc, StatusOK, "granted", "")
			} else {
				d.add("scope "+sc, StatusFailed, "not granted in the domain-wide delegation", fix)
			}
		}
		d.skip(later[2+len(scopes):]...)
		return d
	default:
		name := "access token"
		if isTokenError(err, "invalid_grant") && strings.Contains(strings.ToLower(tokenErrorDescription(err)), "email or user id") {
			d.add(name, StatusOK, "the service account's key was accepted", "")
			name = "impersonate " + s.cfg.AdminEmail
			later = later[2:]
		} else {
			later = later[1:]
		}
		d.add(name, StatusFailed, failDetail(err), hintOf(err))
		d.skip(later...)
		return d
	}

	// Reading users and groups.
	var sample string
	err = c.retry.do(ctx, "users.list ("+s.where()+")", func(ctx context.Context) error {
		call := c.svc.Users.List().MaxResults(1).Fields("users(primaryEmail)").Context(ctx)
		call = s.scope(call)
		res, err := call.Do()
		if err == nil && len(res.Users) > 0 {
			sample = res.Users[0].PrimaryEmail
		}
		return err
	})
	if err != nil {
		d.add("read users", StatusFailed, failDetail(err), hintOf(err))
		d.skip("read groups")
		return d
	}
	d.add("read users", StatusOK, describeSample("user", sample), "")
	if len(s.cfg.CustomAttributes) > 0 {
		s.checkCustomSchemas(ctx, c, d)
	}

	var groupID, groupEmail string
	err = c.retry.do(ctx, "groups.list ("+s.where()+")", func(ctx context.Context) error {
		call := c.svc.Groups.List().MaxResults(1).Fields("groups(id,email)").Context(ctx)
		if s.cfg.Domain != "" {
			call = call.Domain(s.cfg.Domain)
		} else {
			call = call.Customer(s.cfg.Customer)
		}
		res, err := call.Do()
		if err == nil && len(res.Groups) > 0 {
			groupID, groupEmail = res.Groups[0].Id, res.Groups[0].Email
		}
		return err
	})
	if err != nil {
		d.add("read groups", StatusFailed, failDetail(err), hintOf(err))
		return d
	}
	d.add("read groups", StatusOK, describeSample("group", groupEmail), "")
	if groupID != "" {
		err = c.retry.do(ctx, "members.list (group "+groupEmail+")", func(ctx context.Context) error {
			_, err := c.svc.Members.List(groupID).MaxResults(1).Fields("members(id)").Context(ctx).Do()
			return err
		})
		if err != nil {
			d.add("read group members", StatusFailed, failDetail(err), hintOf(err))
			return d
		}
		d.add("read group members", StatusOK, "members of "+groupEmail+" readable", "")
	}

	if s.cfg.Changes {
		s.checkAdminEvents(ctx, c, d)
	}

	// The filter's groups, the privilege rules' groups and org units exist.
	for _, addr := range s.cfg.Groups {
		s.checkGroup(ctx, c, d, "filter group "+addr, addr)
	}
	for _, addr := range s.cfg.RuleGroups {
		s.checkGroup(ctx, c, d, "privilege rule group "+addr, addr)
	}
	customer := s.cfg.Customer
	if customer == "" {
		customer = DefaultCustomer
	}
	for _, ou := range s.cfg.OrgUnits {
		path := strings.Trim(ou, "/")
		name := "filter org unit " + ou
		if path == "" {
			d.add(name, StatusOK, "the root org unit", "")
			continue
		}
		err := c.retry.do(ctx, "orgunits.get "+ou, func(ctx context.Context) error {
			_, err := c.svc.Orgunits.Get(customer, path).Fields("orgUnitPath").Context(ctx).Do()
			return err
		})
		switch ge := apiError(err); {
		case err == nil:
			d.add(name, StatusOK, "exists", "")
		case ge != nil && ge.Code == 404:
			d.add(name, StatusFailed, "no such org unit", "check source.filter.org_units: paths as in the Admin console, e.g. /Sales/EMEA")
		default:
			d.add(name, StatusFailed, failDetail(err), hintOf(err))
		}
	}
	return d
}

// checkAdminEvents reads one admin event of the last day, as incremental
// sync polls them (the token already has the reports scope).
func (s *Source) checkAdminEvents(ctx context.Context, c *conn, d *Diagnosis) {
	const name = "read admin events"
	var n int
	err := c.retry.do(ctx, "activities.list (admin events)", func(ctx context.Context) error {
		res, err := c.rep.Activities.List("all", "admin").MaxResults(1).
			StartTime(s.cfg.Now().UTC().Add(-24 * time.Hour).Format(time.RFC3339)).
			Fields("items(id(time))").Context(ctx).Do()
		if err == nil {
			n = len(res.Items)
		}
		return err
	})
	switch {
	case err != nil:
		fix := hintOf(err)
		if ge := apiError(err); ge != nil && ge.Code == http.StatusForbidden {
			fix = "incremental sync (sync.changes_interval) reads the Reports API's admin events: " + s.delegationFix(c.key, s.Scopes())
		}
		d.add(name, StatusFailed, failDetail(err), fix)
	case n == 0:
		d.add(name, StatusOK, "readable (no admin event in the last 24 hours)", "")
	default:
		d.add(name, StatusOK, "readable", "")
	}
}

// checkCustomSchemas reads the custom schemas that custom attributes map
// from, for a page of users, and says how many of them have values: a
// schema or field name nobody has is most likely a typo (Google does not
// tell apart an unknown schema and one without values).
func (s *Source) checkCustomSchemas(ctx context.Context, c *conn, d *Diagnosis) {
	schemas := dirapi.Schemas(s.cfg.CustomAttributes)
	name := "read custom schemas " + strings.Join(schemas, ", ")
	var users []*admin.User
	err := c.retry.do(ctx, "users.list ("+s.where()+", projection custom)", func(ctx context.Context) error {
		call := c.svc.Users.List().MaxResults(MaxUsersPage).Projection("custom").
			CustomFieldMask(strings.Join(schemas, ",")).Fields("users(primaryEmail,customSchemas)").Context(ctx)
		res, err := s.scope(call).Do()
		if err == nil {
			users = res.Users
		}
		return err
	})
	if err != nil {
		d.add(name, StatusFailed, failDetail(err), hintOf(err))
		return
	}
	var found, none []string
	for _, m := range s.cfg.CustomAttributes {
		n := 0
		for _, u := range users {
			if vals, err := dirapi.CustomAttributes(u, []dirapi.CustomAttribute{m}); err == nil && len(vals) > 0 {
				n++
			}
		}
		field := m.Schema + "." + m.Field
		if n == 0 {
			none = append(none, field)
		} else {
			found = append(found, fmt.Sprintf("%s → %s for %d", field, m.Attribute, n))
		}
	}
	detail := fmt.Sprintf("allowed; of the first %d users: ", len(users))
	if len(found) > 0 {
		detail += strings.Join(found, ", ")
	}
	if len(none) > 0 {
		if len(found) > 0 {
			detail += "; "
		}
		detail += "no values for " + strings.Join(none, ", ") + " (check the schema and field names in source.google.custom_attributes if some were expected)"
	}
	d.add(name, StatusOK, detail, "")
}

func (s *Source) checkGroup(ctx context.Context, c *conn, d *Diagnosis, name, addr string) {
	var email string
	err := c.retry.do(ctx, "groups.get "+addr, func(ctx context.Context) error {
		g, err := c.svc.Groups.Get(addr).Fields("id,email").Context(ctx).Do()
		if err == nil {
			email = g.Email
		}
		return err
	})
	switch ge := apiError(err); {
	case err == nil:
		detail := "exists"
		if !strings.EqualFold(email, addr) {
			detail = "exists (an alias of " + email + ")"
		}
		d.add(name, StatusOK, detail, "")
	case ge != nil && ge.Code == 404:
		d.add(name, StatusFailed, "no such group", "check the address in the config (a group's primary address or alias)")
	default:
		d.add(name, StatusFailed, failDetail(err), hintOf(err))
	}
}

// scope sets the customer or domain of a users.list call.
func (s *Source) scope(call *admin.UsersListCall) *admin.UsersListCall {
	if s.cfg.Domain != "" {
		return call.Domain(s.cfg.Domain)
	}
	return call.Customer(s.cfg.Customer)
}

func describeSample(kind, sample string) string {
	if sample == "" {
		return "allowed (none found)"
	}
	return fmt.Sprintf("allowed (e.g. %s)", sample)
}

// failDetail is a failed call's cause without the hint (the hint is the Fix).
func failDetail(err error) string {
	var ce *CallError
	if errors.As(err, &ce) {
		h := ce.Hint
		ce.Hint = ""
		s := ce.Error()
		ce.Hint = h
		return s
	}
	return oneLine(err)
}

func hintOf(err error) string {
	var ce *CallError
	if errors.As(err, &ce) {
		return ce.Hint
	}
	return ""
}

func isTokenError(err error, code string) bool {
	_, c, _ := tokenFailure(err)
	return c == code
}

func tokenErrorDescription(err error) string {
	_, _, d := tokenFailure(err)
	return d
}
