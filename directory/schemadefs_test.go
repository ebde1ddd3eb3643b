package directory

import (
	"strings"
	"testing"
)

// Every attribute type the directory knows and every object class its
// entries carry has a definition in cn=Subschema.
func TestSubschemaComplete(t *testing.T) {
	d, live := newTestDirectory(t)
	defined := map[*attrDef]bool{}
	for _, a := range schemaAttributeTypes {
		if a.def != nil {
			if !strings.Contains(a.desc, "'"+a.def.name+"'") {
				t.Errorf("definition of %s does not name it: %s", a.def.name, a.desc)
			}
			defined[a.def] = true
		}
	}
	for _, def := range attrByName {
		if !defined[def] {
			t.Errorf("attribute type %s has no definition", def.name)
		}
	}
	classes := map[string]bool{}
	for _, o := range schemaObjectClasses {
		if !strings.Contains(o.desc, "NAME '"+o.name+"'") {
			t.Errorf("definition of %s does not name it: %s", o.name, o.desc)
		}
		classes[strings.ToLower(o.name)] = true
	}
	tr := d.trees.get(live)
	for _, e := range allEntries(d, tr) {
		if a, ok := e.attr(atObjectClass); ok {
			it := a.vals()
			for v, ok := it.next(); ok; v, ok = it.next() {
				if !classes[strings.ToLower(v)] {
					t.Errorf("%q: object class %s has no definition", e.dn, v)
				}
			}
		}
	}
	// They are operational: shown by name or with "+".
	es, err := searchAll(t, d, Identity{}, &SearchRequest{BaseDN: "cn=subschema", Scope: ScopeBase, Attributes: []string{"attributeTypes", "objectclasses"}})
	if err != nil || len(es) != 1 {
		t.Fatalf("%v %v", es, err)
	}
	m := attrMap(es[0])
	if len(m["attributeTypes"]) != len(schemaAttributeTypes) || len(m["objectClasses"]) != len(schemaObjectClasses) {
		t.Errorf("cn=Subschema: %d attribute types, %d object classes", len(m["attributeTypes"]), len(m["objectClasses"]))
	}
	es, _ = searchAll(t, d, Identity{}, &SearchRequest{BaseDN: "cn=subschema", Scope: ScopeBase})
	if _, ok := attrMap(es[0])["attributeTypes"]; ok {
		t.Error("attributeTypes returned with *")
	}
}
