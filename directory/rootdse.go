package directory

// OIDs the RootDSE announces of the directory itself.
const (
	oidAllOperational   = "1.3.6.1.4.1.4203.1.5.1" // "+" in attribute lists (RFC 3673)
	oidTrueFalseFilters = "1.3.6.1.4.1.4203.1.5.3" // "(&)" and "(|)" (RFC 4526)
	vendorName          = "ldapgate"
	subschemaNormalised = "cn=subschema"
)

// newRootDSE builds the RootDSE (RFC 4512 §5.1). Like slapd it shows only
// objectClass to "*"; the rest is operational ("+" or by name). It lists
// exactly what the server implements: the controls, extended operations
// and SASL mechanisms of c (the protocol layer's), and the features of
// the directory.
func newRootDSE(c *Config, l *layout) *Entry {
	e := newSpecialEntry("", "", kindRootDSE)
	e.add(atObjectClass, "top")
	e.addShared(atNamingContexts, []string{l.baseDN}, []string{l.baseNDN})
	e.add(atSupportedLDAPVersion, "3")
	e.add(atSupportedControl, c.Controls...)
	e.add(atSupportedExtension, c.Extensions...)
	e.add(atSupportedSASL, c.SASLMechanisms...)
	e.add(atSupportedFeatures, oidAllOperational, oidTrueFalseFilters)
	e.add(atVendorName, vendorName)
	e.add(atVendorVersion, c.VendorVersion)
	e.addShared(atSubschemaSubentry, valSubschema, valSubschemaNorm)
	return e.done()
}

// newSubschema builds cn=Subschema, the subschema subentry every entry
// points at, with the attribute types and object classes served (see
// schemadefs.go).
func newSubschema() *Entry {
	e := newSpecialEntry(subschemaDN, subschemaNormalised, kindSubschema)
	e.add(atObjectClass, "top", "subentry", "subschema", "extensibleObject")
	e.add(atCN, "Subschema")
	addSchemaDefinitions(e)
	e.add(atStructuralClass, "subentry")
	e.addShared(atEntryDN, []string{e.dn}, []string{e.ndn})
	e.addShared(atHasSubordinates, valFalse, valFalse)
	e.addShared(atSubschemaSubentry, valSubschema, valSubschemaNorm)
	return e.done()
}
