package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/go-cmp/cmp"
)

// PHP's ldap extension (php-ldap, on OpenLDAP's libldap) doing what
// Nextcloud's user_ldap does (OCA\User_LDAP\LDAP and Access): paged user
// and group listings with the paged results control set as
// ldap_search's $controls and the response cookie read with
// ldap_parse_result, group membership by member search and by
// ldap_read, the login (search by the login filter, then a bind as the
// DN found on a new connection), ldap_compare, and StartTLS as its "use
// TLS" option sends it.
const phpPkgs = "php-cli php-ldap"

// phpScript prints what it saw as JSON; the test compares it with what
// ldapgate serves to go-ldap. Warnings the extension raises are collected
// (and must be none, except where a failure is expected), so that a
// control or result the extension cannot parse shows up.
const phpScript = `<?php
$in = json_decode(file_get_contents($argv[1]), true, 512, JSON_THROW_ON_ERROR);
$out = ['warnings' => []];
set_error_handler(function ($no, $msg) use (&$out) {
	$out['warnings'][] = $msg;
	return true;
});

function connect($in) {
	$c = ldap_connect($in['uri']);
	if ($c === false) {
		throw new Exception('ldap_connect failed');
	}
	ldap_set_option($c, LDAP_OPT_PROTOCOL_VERSION, 3);
	ldap_set_option($c, LDAP_OPT_REFERRALS, 0);
	ldap_set_option($c, LDAP_OPT_NETWORK_TIMEOUT, 5);
	ldap_set_option($c, LDAP_OPT_TIMEOUT, 10);
	return $c;
}

function fail($c, $what) {
	throw new Exception("$what: " . ldap_errno($c) . ' ' . ldap_error($c));
}

// entries turns ldap_get_entries' arrays into [dn => [attr => values]].
function entries($c, $r) {
	$es = ldap_get_entries($c, $r);
	if ($es === false) {
		fail($c, 'ldap_get_entries');
	}
	$m = [];
	for ($i = 0; $i < $es['count']; $i++) {
		$e = $es[$i];
		$attrs = [];
		for ($j = 0; $j < $e['count']; $j++) {
			$vals = $e[$e[$j]];
			unset($vals['count']);
			$attrs[$e[$j]] = array_values($vals);
		}
		$m[$e['dn']] = (object)$attrs;
	}
	return $m;
}

// page runs one page of a paged search as LDAP::search does and returns
// its entries and the cookie from the response (controlPagedResultResponse).
function page($c, $base, $filter, $attrs, $size, $cookie) {
	$controls = [[
		'oid' => LDAP_CONTROL_PAGEDRESULTS,
		'value' => ['size' => $size, 'cookie' => $cookie],
		'iscritical' => false,
	]];
	$r = ldap_search($c, $base, $filter, $attrs, 0, 0, -1, LDAP_DEREF_NEVER, $controls);
	if ($r === false) {
		fail($c, "paged search $base $filter");
	}
	$es = entries($c, $r);
	if (!ldap_parse_result($c, $r, $code, $matched, $msg, $referrals, $ctrls)) {
		fail($c, 'ldap_parse_result');
	}
	if ($code !== 0) {
		throw new Exception("paged search $base $filter: result $code $msg");
	}
	if (!isset($ctrls[LDAP_CONTROL_PAGEDRESULTS]['value'])) {
		throw new Exception("paged search $base $filter: no paged results control in the response");
	}
	return [$es, $ctrls[LDAP_CONTROL_PAGEDRESULTS]['value']['cookie'] ?? ''];
}

// pagedSearch reads all of a search, page by page; it returns the
// entries and the number in each page.
function pagedSearch($c, $base, $filter, $attrs, $size) {
	$cookie = '';
	$all = [];
	$sizes = [];
	do {
		[$es, $cookie] = page($c, $base, $filter, $attrs, $size, $cookie);
		$sizes[] = count($es);
		$all += $es;
		if (count($sizes) > 1000) {
			throw new Exception('paged search: no end after 1000 pages');
		}
	} while ($cookie !== '');
	return [(object)$all, $sizes];
}

// moved returns the warnings raised since there were $n, and forgets them.
function moved(&$out, $n) {
	return array_splice($out['warnings'], $n);
}

try {
	$c = connect($in);
	if (!ldap_bind($c, $in['serviceDN'], $in['servicePassword'])) {
		fail($c, 'service bind');
	}

	// The wizard's base DN detection reads the root DSE.
	$r = ldap_read($c, '', 'objectClass=*', ['namingContexts', 'supportedControl']);
	if ($r === false) {
		fail($c, 'root DSE');
	}
	$out['rootDSE'] = entries($c, $r)[''] ?? null;

	[$out['users'], $out['userPages']] = pagedSearch($c, $in['peopleDN'], $in['userFilter'], $in['userAttrs'], $in['pageSize']);
	[$out['groups'], $out['groupPages']] = pagedSearch($c, $in['groupsDN'], $in['groupFilter'], $in['groupAttrs'], $in['groupPageSize']);

	// A page at an offset with no cookie kept (Access::initPagedSearch):
	// a page of offset entries, dismissed but for its cookie, then the
	// page wanted, with another page size.
	[$skipped, $cookie] = page($c, $in['peopleDN'], $in['userFilter'], $in['userAttrs'], $in['offset'], '');
	[$es, $cookie] = page($c, $in['peopleDN'], $in['userFilter'], $in['userAttrs'], $in['pageSize'], $cookie);
	$out['offsetPage'] = ['skipped' => array_keys($skipped), 'page' => array_keys($es), 'more' => $cookie !== ''];

	// Membership without memberOf: the groups whose member is the user.
	$f = '(&' . $in['groupFilter'] . '(member=' . ldap_escape($in['userDN'], '', LDAP_ESCAPE_FILTER) . '))';
	$r = ldap_search($c, $in['groupsDN'], $f, ['dn', 'cn'], 0, 0, -1, LDAP_DEREF_NEVER);
	if ($r === false) {
		fail($c, "search $f");
	}
	$out['userGroups'] = array_keys(entries($c, $r));

	// Access::readAttribute: an ldap_read of one attribute.
	$r = ldap_read($c, $in['groupDN'], 'objectClass=*', ['member'], 0, -1);
	if ($r === false) {
		fail($c, 'read member');
	}
	$out['groupMembers'] = entries($c, $r)[$in['groupDN']]->member ?? null;

	// The login: the user by the login filter, then a bind as the DN found
	// on a new connection.
	$out['login'] = [];
	foreach ($in['logins'] as $name) {
		$f = str_replace('%uid', ldap_escape($name, '', LDAP_ESCAPE_FILTER), $in['loginFilter']);
		$r = ldap_search($c, $in['peopleDN'], $f, ['dn'], 0, 0, -1, LDAP_DEREF_NEVER);
		if ($r === false) {
			fail($c, "login search $f");
		}
		$found = array_keys(entries($c, $r));
		$bound = null;
		if (count($found) === 1) {
			$u = connect($in);
			$bound = ldap_bind($u, $found[0], $in['userPassword']);
			ldap_unbind($u);
		}
		$out['login'][$name] = ['dns' => $found, 'bound' => $bound];
	}

	// A wrong password: false, and invalidCredentials.
	$u = connect($in);
	$n = count($out['warnings']);
	$ok = ldap_bind($u, $in['userDN'], 'not-' . $in['userPassword']);
	$out['wrongBind'] = ['ok' => $ok, 'errno' => ldap_errno($u), 'warnings' => moved($out, $n)];
	ldap_unbind($u);

	$out['compare'] = [];
	foreach ($in['compares'] as $cmp) {
		$n = count($out['warnings']);
		$res = ldap_compare($c, $cmp['dn'], $cmp['attr'], $cmp['value']);
		$out['compare'][] = [
			'result' => $res === true ? 'true' : ($res === false ? 'false' : 'error'),
			'errno' => ldap_errno($c),
			'warnings' => moved($out, $n),
		];
	}
	ldap_unbind($c);

	// StartTLS, which ldapgate without TLS refuses; the connection stays
	// usable in the clear.
	$s = connect($in);
	$n = count($out['warnings']);
	$t = microtime(true);
	$ok = ldap_start_tls($s);
	$out['startTLS'] = [
		'ok' => $ok,
		'errno' => ldap_errno($s),
		'seconds' => microtime(true) - $t,
		'warnings' => moved($out, $n),
		'bindAfter' => ldap_bind($s, $in['serviceDN'], $in['servicePassword']),
	];
	ldap_unbind($s);
} catch (Throwable $e) {
	$out['error'] = $e->getMessage();
}
echo json_encode($out, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES | JSON_PRETTY_PRINT), "\n";
`

// PHP's view of Nextcloud's LDAP work.
type phpResult struct {
	Error      string
	Warnings   []string
	RootDSE    map[string][]string
	Users      ldapEntries
	UserPages  []int
	Groups     ldapEntries
	GroupPages []int
	OffsetPage struct {
		Skipped, Page []string
		More          bool
	}
	UserGroups   []string
	GroupMembers []string
	Login        map[string]struct {
		DNs   []string
		Bound *bool
	}
	WrongBind struct {
		OK       bool
		Errno    int
		Warnings []string
	}
	Compare  []phpCompare
	StartTLS struct {
		OK        bool
		Errno     int
		Seconds   float64
		Warnings  []string
		BindAfter bool
	}
}

type phpCompare struct {
	Result   string // true, false or error
	Errno    int
	Warnings []string
}

// Nextcloud's attributes, as user_ldap asks for them (lowercased
// attribute names; dn and photos asked for though no server returns them).
// The filters, bases and account are the nextcloud guide's.
var (
	ncUserAttrs  = []string{"dn", "uid", "mail", "displayname", "memberof", "entryuuid", "jpegphoto", "thumbnailphoto"}
	ncGroupAttrs = []string{"dn", "cn", "member", "memberof", "entryuuid", "description"}
)

func TestPHPLDAP(t *testing.T) {
	php := debianProgram(t, phpPkgs, "/usr/bin/php")
	// -n: no php.ini (the machine's settings stay out); the extension
	// loads from PHP's extension_dir, where php-ldap puts ldap.so.
	phpArgs := []string{"-n", "-d", "extension=ldap", "-d", "display_errors=stderr", "-d", "error_reporting=-1"}
	if out, err := exec.Command(php, append(phpArgs, "-r", `exit(function_exists("ldap_connect") && defined("LDAP_CONTROL_PAGEDRESULTS") ? 0 : 1);`)...).CombinedOutput(); err != nil {
		clientMissing(t, phpPkgs, "PHP's ldap extension does not load (%v): %s", err, out)
	}
	d := startDirectory(t)
	nc := d.guide(t, "nextcloud")
	peopleDN, groupsDN := nc.Value("ldapBaseUsers"), nc.Value("ldapBaseGroups")
	userFilter, groupFilter := nc.Value("ldapUserFilter"), nc.Value("ldapGroupFilter")
	c := dialAs(t, d, nc.Value("ldapAgentName"), nc.Value("ldapAgentPassword"))
	users := searchEntries(t, c, peopleDN, ldap.ScopeWholeSubtree, userFilter, ncUserAttrs)
	groups := searchEntries(t, c, groupsDN, ldap.ScopeWholeSubtree, groupFilter, ncGroupAttrs)
	rootDSE := searchEntries(t, c, "", ldap.ScopeBaseObject, "(objectClass=*)", []string{"namingContexts", "supportedControl"})[""]
	if len(users) < 3 || len(groups) < 2 {
		t.Fatalf("ldapgate serves %d users and %d groups; the test pages through at least 3 and 2", len(users), len(groups))
	}
	danielMailValue := users[danielDN]["mail"]
	if len(danielMailValue) != 1 || !slices.Contains(groups[engineeringDN]["member"], danielDN) {
		t.Fatalf("ldapgate serves Daniel as %v, engineering as %v", users[danielDN], groups[engineeringDN])
	}
	var danielGroups []string // the groups listing Daniel as a member
	for dn, g := range groups {
		if slices.Contains(g["member"], danielDN) {
			danielGroups = append(danielGroups, dn)
		}
	}
	compares := []struct {
		name, dn, attr, value string
		want                  phpCompare
	}{
		{"mail", danielDN, "mail", danielMailValue[0], phpCompare{Result: "true"}},
		{"wrong mail", danielDN, "mail", "not-" + danielMailValue[0], phpCompare{Result: "false"}},
		{"member", engineeringDN, "member", danielDN, phpCompare{Result: "true"}},
		{"not a member", managementDN, "member", danielDN,
			phpCompare{Result: fmt.Sprint(slices.Contains(groups[managementDN]["member"], danielDN))}},
		{"no such entry", "uid=nobody.here,ou=people," + baseDN, "mail", danielMailValue[0],
			phpCompare{Result: "error", Errno: int(ldap.LDAPResultNoSuchObject)}},
	}
	var cmpIn []map[string]string
	for _, tt := range compares {
		cmpIn = append(cmpIn, map[string]string{"dn": tt.dn, "attr": tt.attr, "value": tt.value})
	}
	in := map[string]any{
		"uri":             nc.Value("ldapHost") + ":" + nc.Value("ldapPort"),
		"serviceDN":       nc.Value("ldapAgentName"),
		"servicePassword": nc.Value("ldapAgentPassword"),
		"peopleDN":        peopleDN,
		"groupsDN":        groupsDN,
		"userFilter":      userFilter,
		"userAttrs":       ncUserAttrs,
		"groupFilter":     groupFilter,
		"groupAttrs":      ncGroupAttrs,
		"pageSize":        len(users)/3 + 1,
		"groupPageSize":   len(groups)/2 + 1,
		"offset":          max(1, len(users)/4),
		"userDN":          danielDN,
		"userPassword":    d.danielPW,
		"groupDN":         engineeringDN,
		"loginFilter":     nc.Value("ldapLoginFilter"),
		"logins":          []string{danielUID, danielMail, "nobody.here"},
		"compares":        cmpIn,
	}
	start := time.Now()
	var got phpResult
	runJSON(t, "nextcloud.php", phpScript, in, &got, php, phpArgs...)
	t.Logf("php ran in %v", time.Since(start).Round(time.Millisecond))
	if got.Error != "" {
		t.Fatalf("php: %s (warnings %q)", got.Error, got.Warnings)
	}
	if len(got.Warnings) > 0 {
		t.Errorf("the ldap extension warned: %q", got.Warnings)
	}

	t.Run("root DSE", func(t *testing.T) {
		if diff := cmp.Diff(lowerKeys(got.RootDSE), rootDSE); diff != "" {
			t.Errorf("root DSE (-got +want):\n%s", diff)
		}
	})
	t.Run("paged users", func(t *testing.T) {
		checkPages(t, got.UserPages, in["pageSize"].(int), len(users))
		if diff := cmp.Diff(got.Users.normalized(), users); diff != "" {
			t.Errorf("users (-got +want):\n%s", diff)
		}
	})
	t.Run("paged groups", func(t *testing.T) {
		checkPages(t, got.GroupPages, in["groupPageSize"].(int), len(groups))
		if diff := cmp.Diff(got.Groups.normalized(), groups); diff != "" {
			t.Errorf("groups (-got +want):\n%s", diff)
		}
	})
	t.Run("offset", func(t *testing.T) {
		o, size, offset := got.OffsetPage, in["pageSize"].(int), in["offset"].(int)
		want := min(size, len(users)-offset)
		seen := map[string]bool{}
		for _, dn := range append(slices.Clone(o.Skipped), o.Page...) {
			if seen[dn] || users[dn] == nil {
				t.Errorf("offset read: %s twice, or not a user", dn)
			}
			seen[dn] = true
		}
		if len(o.Skipped) != offset || len(o.Page) != want || o.More != (offset+size < len(users)) {
			t.Errorf("a page of %d, then of %d with its cookie: %d and %d entries, more: %v; want %d and %d, more: %v",
				offset, size, len(o.Skipped), len(o.Page), o.More, offset, want, offset+size < len(users))
		}
	})
	t.Run("member search", func(t *testing.T) {
		if diff := cmp.Diff(sortedCopy(got.UserGroups), sortedCopy(danielGroups)); diff != "" {
			t.Errorf("groups with member=%s (-got +want):\n%s", danielDN, diff)
		}
	})
	t.Run("read member", func(t *testing.T) {
		if diff := cmp.Diff(sortedCopy(got.GroupMembers), groups[engineeringDN]["member"]); diff != "" {
			t.Errorf("ldap_read %s member (-got +want):\n%s", engineeringDN, diff)
		}
	})
	t.Run("login", func(t *testing.T) {
		for _, name := range []string{danielUID, danielMail} {
			l := got.Login[name]
			if !slices.Equal(l.DNs, []string{danielDN}) || l.Bound == nil || !*l.Bound {
				t.Errorf("login %s: found %q, bound %v; want %s, bound", name, l.DNs, ptrString(l.Bound), danielDN)
			}
		}
		if l := got.Login["nobody.here"]; len(l.DNs) != 0 {
			t.Errorf("login nobody.here: found %q", l.DNs)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		if got.WrongBind.OK || got.WrongBind.Errno != int(ldap.LDAPResultInvalidCredentials) {
			t.Errorf("bind with a wrong password: %v, ldap_errno %d; want false, %d (warnings %q)",
				got.WrongBind.OK, got.WrongBind.Errno, ldap.LDAPResultInvalidCredentials, got.WrongBind.Warnings)
		}
	})
	t.Run("compare", func(t *testing.T) {
		if len(got.Compare) != len(compares) {
			t.Fatalf("%d compare results, want %d", len(got.Compare), len(compares))
		}
		for i, tt := range compares {
			g := got.Compare[i]
			if g.Result != tt.want.Result || (tt.want.Result == "error" && g.Errno != tt.want.Errno) {
				t.Errorf("%s: ldap_compare(%s, %s, %s) = %s (ldap_errno %d, warnings %q); want %s (%d)",
					tt.name, tt.dn, tt.attr, tt.value, g.Result, g.Errno, g.Warnings, tt.want.Result, tt.want.Errno)
			}
		}
	})
	t.Run("StartTLS", func(t *testing.T) {
		s := got.StartTLS
		if s.OK || s.Seconds > 5 || !s.BindAfter {
			t.Errorf("ldap_start_tls without TLS on the server: %v (ldap_errno %d) after %.2fs, bind after it: %v; want false at once, then a bind (warnings %q)",
				s.OK, s.Errno, s.Seconds, s.BindAfter, s.Warnings)
		}
		if want := startTLSRefusal(t, d); s.Errno != int(want) {
			t.Errorf("ldap_start_tls: ldap_errno %d, want %d (go-ldap's)", s.Errno, want)
		}
	})
}

// ldapEntries are search results as the scripts print them: values by
// attribute name, by DN.
type ldapEntries map[string]map[string][]string

// normalized returns e with lowercased attribute names and sorted values,
// as searchEntries returns them.
func (e ldapEntries) normalized() ldapEntries {
	n := make(ldapEntries, len(e))
	for dn, attrs := range e {
		n[dn] = lowerKeys(attrs)
	}
	return n
}

func lowerKeys(attrs map[string][]string) map[string][]string {
	if attrs == nil {
		return nil
	}
	m := make(map[string][]string, len(attrs))
	for k, v := range attrs {
		m[strings.ToLower(k)] = sortedCopy(v)
	}
	return m
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func ptrString(b *bool) string {
	if b == nil {
		return "null"
	}
	return fmt.Sprint(*b)
}

// dialAs returns a go-ldap connection to ldapgate bound as dn.
func dialAs(t *testing.T, d *directory, dn, pw string) *ldap.Conn {
	t.Helper()
	c, err := ldap.DialURL("ldap://" + d.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Bind(dn, pw); err != nil {
		t.Fatalf("bind %s: %v", dn, err)
	}
	return c
}

// searchEntries searches with go-ldap and returns the entries with
// lowercased attribute names and sorted values.
func searchEntries(t *testing.T, c *ldap.Conn, base string, scope int, filter string, attrs []string) ldapEntries {
	t.Helper()
	r, err := c.Search(ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, nil))
	if err != nil {
		t.Fatalf("search %q %s: %v", base, filter, err)
	}
	m := ldapEntries{}
	for _, e := range r.Entries {
		attrs := map[string][]string{}
		for _, a := range e.Attributes {
			attrs[strings.ToLower(a.Name)] = sortedCopy(a.Values)
		}
		m[e.DN] = attrs
	}
	return m
}

// checkPages checks the sizes of the pages of a paged read of total
// entries with page size size: full pages, then the rest, and more than
// one page.
func checkPages(t *testing.T, pages []int, size, total int) {
	t.Helper()
	want := make([]int, 0, total/size+1)
	for n := total; n > 0; n -= size {
		want = append(want, min(n, size))
	}
	if len(want) < 2 {
		t.Fatalf("%d entries in pages of %d: no paging to test", total, size)
	}
	if !slices.Equal(pages, want) {
		t.Errorf("pages of %v entries, want %v (%d in pages of %d)", pages, want, total, size)
	}
}

// startTLSRefusal returns the result code with which ldapgate, which has
// no TLS here, refuses go-ldap's StartTLS.
func startTLSRefusal(t *testing.T, d *directory) uint16 {
	t.Helper()
	c, err := ldap.DialURL("ldap://" + d.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetTimeout(10 * time.Second)
	err = c.StartTLS(nil)
	var le *ldap.Error
	if !errors.As(err, &le) || le.ResultCode == ldap.LDAPResultSuccess || le.ResultCode >= ldap.ErrorNetwork {
		t.Fatalf("go-ldap's StartTLS on ldapgate without TLS: %v; want an LDAP result", err)
	}
	return le.ResultCode
}

// debianProgram returns path if it is installed; otherwise the test skips,
// or fails when CI is set. Debian's own interpreters are looked for by
// path: a PATH may put another PHP or Python (pyenv's) first, without
// Debian's LDAP modules.
func debianProgram(t *testing.T, pkgs, path string) string {
	t.Helper()
	if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		clientMissing(t, pkgs, "%s is not installed", path)
	}
	return path
}

// runJSON writes script (as name) and in (as JSON) into a new
// t.TempDir(), runs prog with args, the script and the input file, there,
// and decodes the JSON it prints into out. LDAPNOINIT keeps the machine's
// ldap.conf and ~/.ldaprc out of libldap's settings.
func runJSON(t *testing.T, name, script string, in, out any, prog string, args ...string) {
	t.Helper()
	dir := t.TempDir()
	scriptPath := filepath.Join(dir, name)
	writeFile(t, scriptPath, script, 0o600)
	input, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	inPath := filepath.Join(dir, "in.json")
	writeFile(t, inPath, string(input), 0o600)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, append(args, scriptPath, inPath)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LDAPNOINIT=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(prog), name, err, stdout, stderr.String())
	}
	if err := json.Unmarshal(stdout, out); err != nil {
		t.Fatalf("%s %s printed no JSON result: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(prog), name, err, stdout, stderr.String())
	}
}
