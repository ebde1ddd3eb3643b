package gateway

import (
	"runtime/debug"
	"strings"
)

// Version, when set at build time with
// -ldflags "-X github.com/ldapgate/ldapgate/gateway.Version=v1.2.3",
// replaces the module version of the build information (release builds
// of a tagged checkout, whose module version is "(devel)").
var Version string

// BuildInfo is what the binary knows of its own build: `go install
// …@v1.2.3` records the module version, `go build` in a git checkout the
// commit (runtime/debug.ReadBuildInfo).
type BuildInfo struct {
	Version   string `json:"version"`            // v1.2.3, or "(devel)" for a build of a checkout
	Revision  string `json:"revision,omitempty"` // the commit
	Time      string `json:"time,omitempty"`     // the commit's time, RFC 3339
	Modified  bool   `json:"modified,omitempty"` // built from a work tree with uncommitted changes
	GoVersion string `json:"goVersion"`
}

// Build returns the running binary's build information.
func Build() BuildInfo { return buildInfo(debug.ReadBuildInfo()) }

func buildInfo(bi *debug.BuildInfo, ok bool) BuildInfo {
	b := BuildInfo{Version: "(devel)"}
	if ok {
		b.GoVersion = bi.GoVersion
		if v := bi.Main.Version; v != "" {
			b.Version = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if Version != "" {
		b.Version = Version
	}
	return b
}

// String is the version as `ldapgate version` prints it:
// "v1.2.3 (commit 0123456789ab, 2026-12-01T10:00:00Z, modified)".
func (b BuildInfo) String() string {
	var parts []string
	if b.Revision != "" {
		parts = append(parts, "commit "+b.Revision[:min(12, len(b.Revision))])
	}
	if b.Time != "" {
		parts = append(parts, b.Time)
	}
	if b.Modified {
		parts = append(parts, "modified")
	}
	if len(parts) == 0 {
		return b.Version
	}
	return b.Version + " (" + strings.Join(parts, ", ") + ")"
}
