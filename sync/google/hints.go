package google

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/api/googleapi"
)

func apiError(err error) *googleapi.Error {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge
	}
	return nil
}

// delegationFix is what to paste into the Admin console's domain-wide
// delegation page.
func (s *Source) delegationFix(k *key, scopes []string) string {
	id := "the service account's client ID"
	if k != nil && k.clientID != "" {
		id = "client ID " + k.clientID
	} else if k != nil {
		id = fmt.Sprintf("the client ID of %s (Google Cloud console > IAM & Admin > Service accounts > its details: Unique ID)", k.email)
	}
	return fmt.Sprintf("in the Admin console, Security > Access and data control > API controls > Manage domain-wide delegation, add %s with the OAuth scopes %s",
		id, strings.Join(scopes, ","))
}

// hint explains a well-known cause of err and what to do; "" if none.
func (s *Source) hint(k *key, scopes []string, call string, err error) string {
	listing := strings.HasPrefix(call, "users.list") || strings.HasPrefix(call, "groups.list")
	if re, code, desc := tokenFailure(err); re != nil {
		desc = strings.ToLower(desc)
		switch {
		case code == "unauthorized_client":
			return "domain-wide delegation is not set up for this service account, or lacks a scope: " + s.delegationFix(k, scopes)
		case code == "invalid_grant" && strings.Contains(desc, "email or user id"):
			return fmt.Sprintf("admin_email %s is not a user of the organisation: set source.google.admin_email to an administrator's primary address", s.cfg.AdminEmail)
		case code == "invalid_grant" && strings.Contains(desc, "signature"):
			return "the key was deleted or disabled, or belongs to another service account: create a new key (IAM & Admin > Service accounts > Keys)"
		case code == "invalid_grant" && (strings.Contains(desc, "iat") || strings.Contains(desc, "timeframe")):
			return "this machine's clock is wrong: synchronise it (NTP)"
		case code == "invalid_grant" && strings.Contains(desc, "account not found"):
			return "the service account was deleted, or the key belongs to another project"
		case code == "" && re.Response != nil && re.Response.StatusCode == http.StatusNotFound:
			return "nothing answers at the token URL: check source.google.token_url"
		}
		return ""
	}
	if limited, _ := rateLimited(err); limited {
		return "the Directory API's quota (by default 2,400 queries a minute per user per project) stays used up, by ldapgate and any other tool of the service account's project: " +
			"lower source.google.max_calls_per_minute, find the other user of the quota, or ask Google for more (Google Cloud console > IAM & Admin > Quotas)"
	}
	if ge := apiError(err); ge != nil {
		reasons := make(map[string]bool)
		for _, it := range ge.Errors {
			reasons[it.Reason] = true
		}
		msg := strings.ToLower(ge.Message)
		switch {
		case reasons["accessNotConfigured"] || strings.Contains(ge.Body, "SERVICE_DISABLED") || strings.Contains(msg, "has not been used in project"):
			proj := ""
			if k != nil && k.projectID != "" {
				proj = " " + k.projectID
			}
			return fmt.Sprintf("the Admin SDK API is not enabled in the service account's Google Cloud project%s: enable it (Google Cloud console > APIs & Services > Library > Admin SDK API), wait a few minutes and try again", proj)
		case ge.Code == http.StatusForbidden && strings.Contains(msg, "not authorized to access this resource"):
			return fmt.Sprintf("%s is not an administrator allowed to read users and groups: set source.google.admin_email to a super administrator, or give its admin role the Admin API privileges Users > Read and Groups > Read", s.cfg.AdminEmail)
		case ge.Code == http.StatusForbidden && (reasons["insufficientPermissions"] || strings.Contains(msg, "insufficient authentication scopes")):
			return "a scope is missing: " + s.delegationFix(k, scopes)
		case listing && (ge.Code == http.StatusBadRequest || ge.Code == http.StatusNotFound) && s.cfg.Domain != "" && !pageTokenExpired(err):
			return fmt.Sprintf("domain %s is not a domain of this organisation (Admin console > Account > Domains): check source.google.domain", s.cfg.Domain)
		case listing && (ge.Code == http.StatusBadRequest || ge.Code == http.StatusNotFound) && !pageTokenExpired(err) && !strings.Contains(msg, "maxresults"):
			return fmt.Sprintf("customer %q is not this organisation's customer ID: use my_customer, or the ID shown in the Admin console (Account > Account settings)", s.cfg.Customer)
		case ge.Code == http.StatusUnauthorized:
			return "the Directory API refused the access token: check that source.google.api_endpoint and token_url belong together"
		}
		return ""
	}
	var ue *url.Error
	if errors.As(err, &ue) || tokenUnreachable(err) {
		return "cannot reach Google: check the network, DNS and source.google.http_proxy"
	}
	return ""
}
