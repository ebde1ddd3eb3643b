package gateway

import (
	"reflect"
	"strings"
)

// keyInfo is what a reload and `config diff` know about a config key.
type keyInfo struct {
	effect Effect
	// secret keys are shown as "(set)" or "(unset)", never their value.
	secret bool
	// chain keys configure the bind chain: a change builds a new chain.
	chain bool
	// schedule keys move the next scheduled sync.
	schedule bool
}

// configKeys is the one table of config keys, by dotted YAML path. An
// entry covers the keys below it that have none of their own. Reload,
// Diff and `config diff` read it; TestConfigKeys fails when a Config
// field has no entry or an entry names no field, and TestConfigKeysREADME
// when the README's "Config reload" table says otherwise.
var configKeys = map[string]keyInfo{
	"domain":     {effect: EffectRestart},
	"source":     {effect: EffectNextSync}, // filters, the directory file, Google settings
	"privileges": {effect: EffectNextSync},

	"sync.interval":                      {effect: EffectNow, schedule: true},
	"sync.timeout":                       {effect: EffectNextSync},
	"sync.delete_users":                  {effect: EffectNextSync},
	"sync.max_delete_percent":            {effect: EffectNextSync},
	"sync.default_privileges":            {effect: EffectNextSync},
	"sync.privilege_rules":               {effect: EffectNextSync},
	"sync.deleted_retention":             {effect: EffectRestart}, // the store's setting, given at open
	"sync.keep_app_passwords_on_suspend": {effect: EffectNextSync},
	"sync.incremental":                   {effect: EffectNow},
	"sync.changes_interval":              {effect: EffectNow},
	"sync.lease_ttl":                     {effect: EffectRestart}, // the renewal period is set at start

	"store": {effect: EffectRestart},
	// The listeners and the tree; of ldap, only the bind limits and the
	// certificate files reload (turning TLS on or off does not: see Diff).
	"ldap":            {effect: EffectRestart},
	"ldap.tls":        {effect: EffectNow},
	"ldap.bind_limit": {effect: EffectNow},

	"service_accounts": {effect: EffectNow},
	"log":              {effect: EffectRestart},
	"audit":            {effect: EffectRestart},

	"binds":          {effect: EffectNow, chain: true},
	"bind_cache_ttl": {effect: EffectNow, chain: true},
	"app_passwords":  {effect: EffectNow, chain: true},
	"upstream_ldap":  {effect: EffectNow, chain: true},

	"oidc":                    {effect: EffectRestart},
	"oidc.client_secret_file": {effect: EffectRestart, secret: true},
	"oidc.client_secret_env":  {effect: EffectRestart, secret: true},
	"http":                    {effect: EffectRestart},

	"metrics.listen":        {effect: EffectRestart},
	"metrics.ready_max_age": {effect: EffectNow},
	"admin":                 {effect: EffectNow},
}

// keyInfoOf returns the entry of key, or of its nearest parent that has one.
func keyInfoOf(key string) keyInfo {
	for _, k := range keyAndParents(key) {
		if info, ok := configKeys[k]; ok {
			return info
		}
	}
	// Unreachable for Config's keys (TestConfigKeys); a restart is the
	// answer that never claims too much.
	return keyInfo{effect: EffectRestart}
}

// keyAndParents returns key and its parents, nearest first: a.b.c, a.b, a.
func keyAndParents(key string) []string {
	out := []string{key}
	for i := strings.LastIndexByte(key, '.'); i >= 0; i = strings.LastIndexByte(key, '.') {
		key = key[:i]
		out = append(out, key)
	}
	return out
}

// effectOf says when the setting at key takes effect on reload.
func effectOf(key string) Effect { return keyInfoOf(key).effect }

// walkKeys calls fn with each setting of two values of one config type,
// by dotted key: a struct's fields are walked into, anything else (a
// Duration, a list, a map, a pointer) is one setting.
func walkKeys(a, b reflect.Value, key string, fn func(key string, a, b reflect.Value)) {
	if a.Kind() != reflect.Struct || a.Type() == reflect.TypeFor[Duration]() {
		fn(key, a, b)
		return
	}
	for i := range a.NumField() {
		if name := yamlName(a.Type().Field(i)); name != "" {
			walkKeys(a.Field(i), b.Field(i), join(key, name), fn)
		}
	}
}

// field returns the field of c at the dotted key (one walkKeys gave),
// settable.
func field(c *Config, key string) reflect.Value {
	v := reflect.ValueOf(c).Elem()
names:
	for name := range strings.SplitSeq(key, ".") {
		for i := range v.NumField() {
			if yamlName(v.Type().Field(i)) == name {
				v = v.Field(i)
				continue names
			}
		}
		panic("gateway: no config key " + key)
	}
	return v
}
