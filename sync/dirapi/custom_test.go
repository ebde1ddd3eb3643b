package dirapi

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admin "google.golang.org/api/admin/directory/v1"
	"google.golang.org/api/googleapi"
)

func TestCustomAttributes(t *testing.T) {
	mapping := []CustomAttribute{
		{Schema: "Employment", Field: "EmployeeID", Attribute: "employeeNumber"},
		{Schema: "employment", Field: "costCenter", Attribute: "departmentNumber"},
		{Schema: "Employment", Field: "Phones", Attribute: "telephoneNumber"},
		{Schema: "Contact", Field: "Desk", Attribute: "telephoneNumber"},
		{Schema: "Employment", Field: "Manager", Attribute: "employeeType"},
		{Schema: "Employment", Field: "Missing", Attribute: "title"},
		{Schema: "Flags", Field: "Contractor", Attribute: "businessCategory"},
	}
	tests := []struct {
		name    string
		schemas map[string]string
		want    map[string][]string
		wantErr string
	}{
		{name: "no custom schemas"},
		{
			name: "all kinds",
			schemas: map[string]string{
				"Employment": `{"EmployeeID": "E-42", "CostCenter": 4711, "Phones": [{"type": "work", "value": "+1 555 0100"}, {"value": "+1 555 0101"}, {"value": "+1 555 0100"}], "Manager": null}`,
				"Contact":    `{"Desk": ["+1 555 0102", ""]}`,
				"Flags":      `{"Contractor": false}`,
			},
			want: map[string][]string{
				"employeeNumber":   {"E-42"},
				"departmentNumber": {"4711"},
				"telephoneNumber":  {"+1 555 0100", "+1 555 0101", "+1 555 0102"},
				"businessCategory": {"FALSE"},
			},
		},
		{name: "only empty values", schemas: map[string]string{"Employment": `{"EmployeeID": "  "}`}},
		{name: "not an object", schemas: map[string]string{"Employment": `"E-42"`}, wantErr: "custom schema Employment"},
		{name: "nested object", schemas: map[string]string{"Employment": `{"EmployeeID": {"a": 1}}`}, wantErr: "custom field Employment.EmployeeID: unsupported value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &admin.User{PrimaryEmail: "alice@example.com"}
			if tt.schemas != nil {
				u.CustomSchemas = make(map[string]googleapi.RawMessage)
				for k, v := range tt.schemas {
					u.CustomSchemas[k] = googleapi.RawMessage(v)
				}
			}
			got, err := CustomAttributes(u, mapping)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("CustomAttributes (-got +want):\n%s", diff)
			}
		})
	}
	if got := Schemas(mapping); !cmp.Equal(got, []string{"Employment", "Contact", "Flags"}) {
		t.Errorf("Schemas = %v", got)
	}
}

// CustomAttributes never panics on what Google (or a directory file) sends,
// and gives no empty values.
func FuzzCustomAttributes(f *testing.F) {
	for _, s := range []string{`{"EmployeeID": "E-1"}`, `{"EmployeeID": [{"value": 1}, "x", null, true]}`, `{"EmployeeID": {}}`, `[]`, `"x"`, `{`} {
		f.Add(s)
	}
	mapping := []CustomAttribute{{Schema: "Employment", Field: "EmployeeID", Attribute: "employeeNumber"}}
	f.Fuzz(func(t *testing.T, schema string) {
		u := &admin.User{PrimaryEmail: "a@example.com", CustomSchemas: map[string]googleapi.RawMessage{"Employment": googleapi.RawMessage(schema)}}
		got, err := CustomAttributes(u, mapping)
		if err != nil {
			return
		}
		for _, vs := range got {
			for _, v := range vs {
				if v == "" {
					t.Fatalf("empty value from %q", schema)
				}
			}
		}
	})
}
