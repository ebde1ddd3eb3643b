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
// applied), each with when it takes effect (configKeys). Secrets and
// password hashes are shown as "(set)" or "(unset)", never their values.
func Diff(old, new *Config) []Change {
	var out []Change
	walkKeys(reflect.ValueOf(*old), reflect.ValueOf(*new), "", func(key string, a, b reflect.Value) {
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			out = append(out, Change{Key: key, Old: show(key, a), New: show(key, b), Effect: effectOf(key)})
		}
	})
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

func show(key string, v reflect.Value) string {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "(default)"
		}
		v = v.Elem()
	}
	if keyInfoOf(key).secret {
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
