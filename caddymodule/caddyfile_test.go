package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

var updateFixtures = flag.Bool("update", false, "rewrite the expected halves of testdata/caddyfile_adapt")

// fixtureSeparator splits a .caddyfiletest fixture, as in Caddy's own
// caddyfile_adapt tests: the Caddyfile, then the JSON it adapts to, or
// "error: <text>" for a Caddyfile that must be refused with that error.
const fixtureSeparator = "\n----------\n"

// TestCaddyfileAdapt adapts every fixture in testdata/caddyfile_adapt and
// compares the result: every option of the global widgetgate block and of
// the handler directive, and each parse error. Rerun with -update after
// an intended change, and review the diff.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "caddyfile_adapt", "*.caddyfiletest"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	adapter := caddyconfig.GetAdapter("caddyfile")
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".caddyfiletest"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			in, want, ok := strings.Cut(string(raw), fixtureSeparator)
			if !ok {
				t.Fatalf("%s: no %q separator", file, strings.TrimSpace(fixtureSeparator))
			}
			var got string
			out, _, err := adapter.Adapt([]byte(in), map[string]any{"filename": "Caddyfile"})
			if err != nil {
				got = "error: " + err.Error()
			} else {
				var buf bytes.Buffer
				if err := json.Indent(&buf, out, "", "\t"); err != nil {
					t.Fatal(err)
				}
				got = buf.String()
			}
			if *updateFixtures {
				if err := os.WriteFile(file, []byte(in+fixtureSeparator+got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if strings.TrimSpace(got) != strings.TrimSpace(want) {
				t.Errorf("adapting %s:\ngot:\n%s\nwant:\n%s", file, got, want)
			}
			if strings.HasPrefix(strings.TrimSpace(want), "error:") != (err != nil) {
				t.Errorf("%s: adapt error %v, but the fixture expects the other outcome", file, err)
			}
		})
	}
}
