package gateway

import (
	"fmt"
	"reflect"
	"strings"
)

// Effect says when a changed setting takes effect in a running ldapgate.
type Effect string

// Effects of a config change.
const (
	EffectNow      Effect = "now"       // applied on reload
	EffectNextSync Effect = "next sync" // applied by the next sync
	EffectRestart  Effect = "restart"   // needs a restart of ldapgate
)

// Change is one setting that differs between two configs.
type Change struct {
	Key    string `json:"key"` // dotted YAML path, e.g. sync.default_privileges
	Old    string `json:"old"`
	New    string `json:"new"`
	Effect Effect `json:"effect"`
}

func (c Change) String() string {
	return fmt.Sprintf("%s: %s -> %s (%s)", c.Key, c.Old, c.New, c.Effect)
}

// Diff returns the settings that differ between old and new (defaults
// applied), each with when it takes effect. Secrets and password hashes
// are shown as "(set)" or "(unset)", never their values.
func Diff(old, new *Config) []Change {
	var out []Change
	diffValue(reflect.ValueOf(*old), reflect.ValueOf(*new), "", &out)
	// Turning TLS on or off changes the listeners.
	if (old.LDAP.TLS.CertFile == "") != (new.LDAP.TLS.CertFile == "") {
		for i := range out {
			if strings.HasPrefix(out[i].Key, "ldap.tls.") {
				out[i].Effect = EffectRestart
			}
		}
	}
	return out
}

// NeedsRestart reports whether any of changes needs a restart.
func NeedsRestart(changes []Change) bool {
	for _, c := range changes {
		if c.Effect == EffectRestart {
			return true
		}
	}
	return false
}

func diffValue(a, b reflect.Value, key string, out *[]Change) {
	if a.Kind() == reflect.Struct && a.Type() != reflect.TypeFor[Duration]() {
		for i := range a.NumField() {
			name := yamlName(a.Type().Field(i))
			if name == "" {
				continue
			}
			diffValue(a.Field(i), b.Field(i), join(key, name), out)
		}
		return
	}
	if reflect.DeepEqual(a.Interface(), b.Interface()) {
		return
	}
	*out = append(*out, Change{Key: key, Old: show(key, a), New: show(key, b), Effect: effectOf(key)})
}

func show(key string, v reflect.Value) string {
	secret := strings.Contains(key, "secret") || strings.Contains(key, "password_hash") || key == "service_accounts"
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "(default)"
		}
		v = v.Elem()
	}
	if secret && key != "service_accounts" {
		if v.IsZero() {
			return "(unset)"
		}
		return "(set)"
	}
	switch x := v.Interface().(type) {
	case Duration:
		return x.D().String()
	case []ServiceAccount:
		names := make([]string, len(x))
		for i, sa := range x {
			names[i] = sa.Name
		}
		return "[" + strings.Join(names, " ") + "]" // hashes never shown
	case string:
		return fmt.Sprintf("%q", x)
	}
	return fmt.Sprintf("%v", v.Interface())
}

// effectOf says when the setting at key takes effect on reload.
func effectOf(key string) Effect {
	first, _, _ := strings.Cut(key, ".")
	switch {
	case first == "source", first == "privileges", key == "sync.delete_users", key == "sync.max_delete_percent",
		key == "sync.default_privileges", key == "sync.privilege_rules", key == "sync.timeout",
		key == "sync.keep_app_passwords_on_suspend":
		return EffectNextSync
	case first == "service_accounts", first == "binds", first == "bind_cache_ttl", first == "app_passwords",
		first == "upstream_ldap", first == "admin", strings.HasPrefix(key, "ldap.bind_limit."),
		strings.HasPrefix(key, "ldap.tls."), key == "sync.interval", key == "metrics.ready_max_age",
		key == "sync.incremental", key == "sync.changes_interval":
		return EffectNow
	}
	// domain, store, sync.deleted_retention (a store setting), ldap
	// listeners and tree, http, oidc, log, audit, metrics.listen
	return EffectRestart
}
