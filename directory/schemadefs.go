package directory

// The subschema (RFC 4512 §4.2) that cn=Subschema publishes: a definition
// for every attribute type and object class the directory serves. The
// definitions are the standard ones (RFC 4512, 4519, 4524, 4530, 2798,
// 3045, 3672); mailAlternateAddress and accountStatus are qmail-ldap's,
// memberOf is the one OpenLDAP's memberof overlay uses (here a user
// attribute, returned with "*"). The object classes' MUST and MAY lists
// are trimmed to the attributes ldapgate serves.
//
// Entries carry a few attributes no class of theirs lists (memberOf,
// mailAlternateAddress and accountStatus on users; mail and memberOf on
// groups), as directories with the memberof overlay and the qmail schema
// do; the directory is read-only, so this is not enforced anywhere.

var (
	atAttributeTypes = &attrDef{name: "attributeTypes", syntax: syntaxString, operational: true}
	atObjectClasses  = &attrDef{name: "objectClasses", syntax: syntaxString, operational: true}
)

func init() {
	attrByName["attributetypes"] = atAttributeTypes
	attrByName["2.5.21.5"] = atAttributeTypes
	attrByName["objectclasses"] = atObjectClasses
	attrByName["2.5.21.6"] = atObjectClasses
}

const (
	synDirectoryString = "1.3.6.1.4.1.1466.115.121.1.15"
	synIA5             = "1.3.6.1.4.1.1466.115.121.1.26"
	synDN              = "1.3.6.1.4.1.1466.115.121.1.12"
	synOID             = "1.3.6.1.4.1.1466.115.121.1.38"
	synTime            = "1.3.6.1.4.1.1466.115.121.1.24"
	synInteger         = "1.3.6.1.4.1.1466.115.121.1.27"
	noUserModOp        = " SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )"
)

// schemaAttributeTypes maps each served attribute type to its definition.
var schemaAttributeTypes = []struct {
	def  *attrDef
	desc string
}{
	{nil, "( 2.5.4.41 NAME 'name' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " )"},
	{nil, "( 2.5.4.49 NAME 'distinguishedName' EQUALITY distinguishedNameMatch SYNTAX " + synDN + " )"},
	{atObjectClass, "( 2.5.4.0 NAME 'objectClass' EQUALITY objectIdentifierMatch SYNTAX " + synOID + " )"},
	{atCN, "( 2.5.4.3 NAME ( 'cn' 'commonName' ) SUP name )"},
	{atSN, "( 2.5.4.4 NAME ( 'sn' 'surname' ) SUP name )"},
	{atC, "( 2.5.4.6 NAME ( 'c' 'countryName' ) SUP name SYNTAX 1.3.6.1.4.1.1466.115.121.1.11 SINGLE-VALUE )"},
	{atO, "( 2.5.4.10 NAME ( 'o' 'organizationName' ) SUP name )"},
	{atOU, "( 2.5.4.11 NAME ( 'ou' 'organizationalUnitName' ) SUP name )"},
	{atDescription, "( 2.5.4.13 NAME 'description' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " )"},
	{atMember, "( 2.5.4.31 NAME 'member' SUP distinguishedName )"},
	{atGivenName, "( 2.5.4.42 NAME ( 'givenName' 'gn' ) SUP name )"},
	{atUID, "( 0.9.2342.19200300.100.1.1 NAME ( 'uid' 'userid' ) EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " )"},
	{atMail, "( 0.9.2342.19200300.100.1.3 NAME ( 'mail' 'rfc822Mailbox' ) EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch SYNTAX " + synIA5 + " )"},
	{atDC, "( 0.9.2342.19200300.100.1.25 NAME ( 'dc' 'domainComponent' ) EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch SYNTAX " + synIA5 + " SINGLE-VALUE )"},
	{atDisplayName, "( 2.16.840.1.113730.3.1.241 NAME 'displayName' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " SINGLE-VALUE )"},
	{atMailAlternate, "( 1.3.6.1.4.1.7914.1.2.1.4 NAME 'mailAlternateAddress' EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch SYNTAX " + synIA5 + " )"},
	{atAccountStatus, "( 1.3.6.1.4.1.7914.1.2.1.12 NAME 'accountStatus' DESC 'active, suspended or archived' EQUALITY caseIgnoreIA5Match SYNTAX " + synIA5 + " SINGLE-VALUE )"},
	{atMemberOf, "( 1.2.840.113556.1.2.102 NAME 'memberOf' DESC 'groups and privilege groups, nested memberships included' EQUALITY distinguishedNameMatch SYNTAX " + synDN + " NO-USER-MODIFICATION )"},
	{atEntryUUID, "( 1.3.6.1.1.16.4 NAME 'entryUUID' EQUALITY UUIDMatch ORDERING UUIDOrderingMatch SYNTAX 1.3.6.1.1.16.1" + noUserModOp},
	{atEntryDN, "( 1.3.6.1.1.20 NAME 'entryDN' EQUALITY distinguishedNameMatch SYNTAX " + synDN + noUserModOp},
	{atCreateTimestamp, "( 2.5.18.1 NAME 'createTimestamp' EQUALITY generalizedTimeMatch ORDERING generalizedTimeOrderingMatch SYNTAX " + synTime + noUserModOp},
	{atModifyTimestamp, "( 2.5.18.2 NAME 'modifyTimestamp' EQUALITY generalizedTimeMatch ORDERING generalizedTimeOrderingMatch SYNTAX " + synTime + noUserModOp},
	{atHasSubordinates, "( 2.5.18.9 NAME 'hasSubordinates' EQUALITY booleanMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.7" + noUserModOp},
	{atSubschemaSubentry, "( 2.5.18.10 NAME 'subschemaSubentry' EQUALITY distinguishedNameMatch SYNTAX " + synDN + noUserModOp},
	{atStructuralClass, "( 2.5.21.9 NAME 'structuralObjectClass' EQUALITY objectIdentifierMatch SYNTAX " + synOID + noUserModOp},
	{atAttributeTypes, "( 2.5.21.5 NAME 'attributeTypes' EQUALITY objectIdentifierFirstComponentMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.3 USAGE directoryOperation )"},
	{atObjectClasses, "( 2.5.21.6 NAME 'objectClasses' EQUALITY objectIdentifierFirstComponentMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.37 USAGE directoryOperation )"},
	{atNamingContexts, "( 1.3.6.1.4.1.1466.101.120.5 NAME 'namingContexts' SYNTAX " + synDN + " USAGE dSAOperation )"},
	{atSupportedExtension, "( 1.3.6.1.4.1.1466.101.120.7 NAME 'supportedExtension' SYNTAX " + synOID + " USAGE dSAOperation )"},
	{atSupportedControl, "( 1.3.6.1.4.1.1466.101.120.13 NAME 'supportedControl' SYNTAX " + synOID + " USAGE dSAOperation )"},
	{atSupportedSASL, "( 1.3.6.1.4.1.1466.101.120.14 NAME 'supportedSASLMechanisms' SYNTAX " + synDirectoryString + " USAGE dSAOperation )"},
	{atSupportedLDAPVersion, "( 1.3.6.1.4.1.1466.101.120.15 NAME 'supportedLDAPVersion' SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 USAGE dSAOperation )"},
	{atSupportedFeatures, "( 1.3.6.1.4.1.4203.1.3.5 NAME 'supportedFeatures' EQUALITY objectIdentifierMatch SYNTAX " + synOID + " USAGE dSAOperation )"},
	{atVendorName, "( 1.3.6.1.1.4 NAME 'vendorName' EQUALITY caseExactIA5Match SYNTAX " + synDirectoryString + " SINGLE-VALUE NO-USER-MODIFICATION USAGE dSAOperation )"},
	{atUIDNumber, "( 1.3.6.1.1.1.1.0 NAME 'uidNumber' EQUALITY integerMatch ORDERING integerOrderingMatch SYNTAX " + synInteger + " SINGLE-VALUE )"},
	{atGIDNumber, "( 1.3.6.1.1.1.1.1 NAME 'gidNumber' EQUALITY integerMatch ORDERING integerOrderingMatch SYNTAX " + synInteger + " SINGLE-VALUE )"},
	{atGecos, "( 1.3.6.1.1.1.1.2 NAME 'gecos' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " SINGLE-VALUE )"},
	{atHomeDirectory, "( 1.3.6.1.1.1.1.3 NAME 'homeDirectory' EQUALITY caseExactIA5Match SYNTAX " + synIA5 + " SINGLE-VALUE )"},
	{atLoginShell, "( 1.3.6.1.1.1.1.4 NAME 'loginShell' EQUALITY caseExactIA5Match SYNTAX " + synIA5 + " SINGLE-VALUE )"},
	{atShadowExpire, "( 1.3.6.1.1.1.1.10 NAME 'shadowExpire' EQUALITY integerMatch ORDERING integerOrderingMatch SYNTAX " + synInteger + " SINGLE-VALUE )"},
	{atMemberUID, "( 1.3.6.1.1.1.1.12 NAME 'memberUid' EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch SYNTAX " + synIA5 + " )"},
	{atUserAccountControl, "( 1.2.840.113556.1.4.8 NAME 'userAccountControl' DESC 'Active Directory: 512 enabled, 514 disabled' EQUALITY integerMatch SYNTAX " + synInteger + " SINGLE-VALUE )"},
	{atSAMAccountName, "( 1.2.840.113556.1.4.221 NAME 'sAMAccountName' DESC 'Active Directory: the uid' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " SINGLE-VALUE )"},
	{atUserPrincipalName, "( 1.2.840.113556.1.4.656 NAME 'userPrincipalName' DESC 'Active Directory: the primary address' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " SINGLE-VALUE )"},
	{atVendorVersion, "( 1.3.6.1.1.5 NAME 'vendorVersion' EQUALITY caseExactIA5Match SYNTAX " + synDirectoryString + " SINGLE-VALUE NO-USER-MODIFICATION USAGE dSAOperation )"},
}

// schemaObjectClasses maps each served object class to its definition.
var schemaObjectClasses = []struct {
	name, desc string
}{
	{"top", "( 2.5.6.0 NAME 'top' ABSTRACT MUST objectClass )"},
	{"country", "( 2.5.6.2 NAME 'country' SUP top STRUCTURAL MUST c MAY description )"},
	{"organization", "( 2.5.6.4 NAME 'organization' SUP top STRUCTURAL MUST o MAY description )"},
	{"organizationalUnit", "( 2.5.6.5 NAME 'organizationalUnit' SUP top STRUCTURAL MUST ou MAY description )"},
	{"person", "( 2.5.6.6 NAME 'person' SUP top STRUCTURAL MUST ( sn $ cn ) MAY description )"},
	{"organizationalPerson", "( 2.5.6.7 NAME 'organizationalPerson' SUP person STRUCTURAL MAY ou )"},
	{"groupOfNames", "( 2.5.6.9 NAME 'groupOfNames' SUP top STRUCTURAL MUST ( member $ cn ) MAY ( o $ ou $ description ) )"},
	{"applicationProcess", "( 2.5.6.11 NAME 'applicationProcess' SUP top STRUCTURAL MUST cn MAY ( ou $ description ) )"},
	{"subentry", "( 2.5.17.0 NAME 'subentry' SUP top STRUCTURAL MUST cn )"},
	{"subschema", "( 2.5.20.1 NAME 'subschema' AUXILIARY MAY ( objectClasses $ attributeTypes ) )"},
	{"domain", "( 0.9.2342.19200300.100.4.13 NAME 'domain' SUP top STRUCTURAL MUST dc MAY ( o $ description ) )"},
	{"extensibleObject", "( 1.3.6.1.4.1.1466.101.120.111 NAME 'extensibleObject' SUP top AUXILIARY )"},
	{"inetOrgPerson", "( 2.16.840.1.113730.3.2.2 NAME 'inetOrgPerson' SUP organizationalPerson STRUCTURAL MAY ( displayName $ givenName $ mail $ uid ) )"},
	{"posixAccount", "( 1.3.6.1.1.1.2.0 NAME 'posixAccount' SUP top AUXILIARY MUST ( cn $ uid $ uidNumber $ gidNumber $ homeDirectory ) MAY ( loginShell $ gecos $ description ) )"},
	{"shadowAccount", "( 1.3.6.1.1.1.2.1 NAME 'shadowAccount' SUP top AUXILIARY MUST uid MAY ( shadowExpire $ description ) )"},
	{"posixGroup", "( 1.3.6.1.1.1.2.2 NAME 'posixGroup' DESC 'RFC 2307bis: auxiliary, beside groupOfNames' SUP top AUXILIARY MUST gidNumber MAY ( memberUid $ description ) )"},
	{"user", "( 1.2.840.113556.1.5.9 NAME 'user' DESC 'Active Directory view' SUP organizationalPerson STRUCTURAL MAY ( sAMAccountName $ userPrincipalName $ userAccountControl $ memberOf $ mail $ displayName $ givenName ) )"},
	{"group", "( 1.2.840.113556.1.5.8 NAME 'group' DESC 'Active Directory view' SUP top STRUCTURAL MUST cn MAY ( sAMAccountName $ member $ memberOf $ mail $ description ) )"},
}

func addSchemaDefinitions(e entryBuilder) {
	ats := make([]string, 0, len(schemaAttributeTypes))
	for _, a := range schemaAttributeTypes {
		ats = append(ats, a.desc)
	}
	ocs := make([]string, 0, len(schemaObjectClasses))
	for _, o := range schemaObjectClasses {
		ocs = append(ocs, o.desc)
	}
	e.add(atAttributeTypes, ats...)
	e.add(atObjectClasses, ocs...)
}
