package main

import (
	"bytes"
	"testing"
)

// TestProgressNotATerminal checks that nothing is drawn when the output is
// not a terminal (scripts, logs, CI).
func TestProgressNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	p := startProgress(&buf, "syncing", func() int64 { return 3 })
	p.stop()
	if buf.Len() != 0 {
		t.Errorf("progress wrote %q to a non-terminal", buf.String())
	}
}
