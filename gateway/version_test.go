package gateway

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBuildInfo(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "-trimpath", Value: "true"},
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	tests := []struct {
		name     string
		bi       *debug.BuildInfo
		ok       bool
		override string
		want     BuildInfo
		str      string
	}{
		{"go install @version", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}}, true, "",
			BuildInfo{Version: "v1.2.3", GoVersion: "go1.26.8"}, "v1.2.3"},
		{"go build in a modified checkout", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs}, true, "",
			BuildInfo{Version: "(devel)", Revision: "0123456789abcdef0123456789abcdef01234567", Time: "2026-12-01T10:00:00Z", Modified: true, GoVersion: "go1.26.8"},
			"(devel) (commit 0123456789ab, 2026-12-01T10:00:00Z, modified)"},
		{"release script: -X Version", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs[:4]}, true, "v1.3.0",
			BuildInfo{Version: "v1.3.0", Revision: "0123456789abcdef0123456789abcdef01234567", Time: "2026-12-01T10:00:00Z", GoVersion: "go1.26.8"},
			"v1.3.0 (commit 0123456789ab, 2026-12-01T10:00:00Z)"},
		{"no build information", nil, false, "", BuildInfo{Version: "(devel)"}, "(devel)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := Version
			Version = tt.override
			t.Cleanup(func() { Version = old })
			got := buildInfo(tt.bi, tt.ok)
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("buildInfo (-got +want):\n%s", diff)
			}
			if s := got.String(); s != tt.str {
				t.Errorf("String() = %q, want %q", s, tt.str)
			}
		})
	}
}

// TestBuildInfoServed: the build shows as ldapgate_build_info and in the
// metrics listener's /healthz.
func TestBuildInfoServed(t *testing.T) {
	old := Version
	Version = "v9.8.7-test"
	t.Cleanup(func() { Version = old })
	fg := startFileGateway(t, "", "")
	b := Build()
	name := fmt.Sprintf(`ldapgate_build_info{goversion=%q,modified="%t",revision=%q,vcs_time=%q,version="v9.8.7-test"}`, b.GoVersion, b.Modified, b.Revision, b.Time)
	if v := metric(t, fg.ops, name); v != 1 {
		t.Errorf("%s = %v, want 1", name, v)
	}
	code, h := getHealth(t, fg.ops+"/healthz")
	if code != http.StatusOK || h.Build.Version != "v9.8.7-test" || h.Build.GoVersion == "" {
		t.Errorf("/healthz = %d, build %+v", code, h.Build)
	}
}
