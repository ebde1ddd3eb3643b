package dirapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	admin "google.golang.org/api/admin/directory/v1"
)

// CustomAttribute maps a field of a custom user schema to an LDAP
// attribute of the user's entry.
type CustomAttribute struct {
	Schema    string // custom schema name, e.g. "Employment"
	Field     string // field name in the schema, e.g. "EmployeeID"
	Attribute string // LDAP attribute name, e.g. "employeeNumber"
}

// Schemas returns the distinct schema names of the mapping (ignoring case;
// the first spelling wins), in order: the Directory API's customFieldMask.
func Schemas(mapping []CustomAttribute) []string {
	var out []string
	for _, m := range mapping {
		if !slices.ContainsFunc(out, func(s string) bool { return strings.EqualFold(s, m.Schema) }) {
			out = append(out, m.Schema)
		}
	}
	return out
}

// CustomAttributes returns the values of u's custom schema fields that the
// mapping names, by LDAP attribute, or nil if there are none. Schema and
// field names match exactly, else ignoring case. A string value is taken
// as it is, a number as its decimal text, a boolean as TRUE or FALSE; a
// multi-valued field gives each of its values (the "value" of each entry).
// Empty values are left out, and so are repeated values of one attribute;
// several fields mapped to one attribute add up, in mapping order. It fails
// on a schema that is not a JSON object or a value of another kind.
func CustomAttributes(u *admin.User, mapping []CustomAttribute) (map[string][]string, error) {
	if len(mapping) == 0 || len(u.CustomSchemas) == 0 {
		return nil, nil
	}
	var out map[string][]string
	decoded := make(map[string]map[string]json.RawMessage)
	for _, m := range mapping {
		fields, ok := decoded[m.Schema]
		if !ok {
			raw, found := lookup(u.CustomSchemas, m.Schema)
			if found {
				if err := json.Unmarshal(raw, &fields); err != nil {
					return nil, fmt.Errorf("user %s: custom schema %s: %w", u.PrimaryEmail, m.Schema, err)
				}
			}
			decoded[m.Schema] = fields
		}
		raw, found := lookup(fields, m.Field)
		if !found {
			continue
		}
		vals, err := customValues(raw)
		if err != nil {
			return nil, fmt.Errorf("user %s: custom field %s.%s: %w", u.PrimaryEmail, m.Schema, m.Field, err)
		}
		for _, v := range vals {
			if v == "" || slices.Contains(out[m.Attribute], v) {
				continue
			}
			if out == nil {
				out = make(map[string][]string)
			}
			out[m.Attribute] = append(out[m.Attribute], v)
		}
	}
	return out, nil
}

// lookup finds key in m, exactly or else ignoring case.
func lookup[V any](m map[string]V, key string) (V, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	var zero V
	return zero, false
}

// customValues converts a custom field's value: a scalar, or a list of
// scalars or of {"type": ..., "value": ...} entries.
func customValues(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		var out []string
		for _, it := range items {
			it = bytes.TrimSpace(it)
			if len(it) > 0 && it[0] == '{' {
				var entry struct {
					Value json.RawMessage `json:"value"`
				}
				if err := json.Unmarshal(it, &entry); err != nil {
					return nil, err
				}
				it = entry.Value
			}
			v, err := customScalar(it)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
	v, err := customScalar(raw)
	if err != nil {
		return nil, err
	}
	return []string{v}, nil
}

// customScalar converts a string, number or boolean; null and absence give "".
func customScalar(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return strings.TrimSpace(s), nil
	case 't', 'f':
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return "", err
		}
		if b {
			return "TRUE", nil
		}
		return "FALSE", nil
	case '{', '[':
		return "", fmt.Errorf("unsupported value %.40s (expected a string, number or boolean)", raw)
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", err
	}
	return n.String(), nil
}
