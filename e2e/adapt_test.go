package e2e

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/widgetgate/widgetgate/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestAdaptCaddyfileExample: the Caddyfile we ship adapts to the JSON we
// expect. Rerun with -update after an intended change, and review the diff.
func TestAdaptCaddyfileExample(t *testing.T) {
	out, err := testenv.Run(t, "adapt", "--config", filepath.Join("..", "Caddyfile.example"), "--pretty")
	if err != nil {
		t.Fatalf("adapt: %v\n%s", err, out)
	}
	// adapt prints warnings on stderr (merged here) before the JSON.
	got := out[strings.Index(out, "{"):]
	golden := filepath.Join("testdata", "Caddyfile.example.golden.json")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("adapt output differs from %s:\n%s", golden, got)
	}
}

func TestListModules(t *testing.T) {
	out, err := testenv.Run(t, "list-modules")
	if err != nil {
		t.Fatalf("list-modules: %v\n%s", err, out)
	}
	for _, m := range []string{"widgetgate", "http.handlers.widgetgate", "http.handlers.reverse_proxy"} {
		if !strings.Contains(out, "\n"+m+"\n") {
			t.Errorf("list-modules does not list %s", m)
		}
	}
}

// TestValidateRejectsBadPackage: a broken widget fails "caddy validate"
// with a message naming the file and the field.
func TestValidateRejectsBadPackage(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "widgets", "broken"), 0o755)
	os.WriteFile(filepath.Join(dir, "widgets", "broken", "schema.json"), []byte(`{"authentications": [], "authenticatedApis": [
		{"label": "x", "name": "x", "url": "https://h.example/{param.a", "method": "GET", "authenticationKey": "k"}]}`), 0o644)
	cfg := filepath.Join(dir, "Caddyfile")
	os.WriteFile(cfg, []byte("{\n\twidgetgate {\n\t\twidgets_dir "+filepath.Join(dir, "widgets")+"\n\t}\n}\n:0 {\n\twidgetgate\n}\n"), 0o644)
	out, err := testenv.Run(t, "validate", "--config", cfg, "--adapter", "caddyfile")
	if err == nil {
		t.Fatalf("validate accepted a broken package:\n%s", out)
	}
	for _, want := range []string{"broken/schema.json", "authenticatedApis[0] (x).authenticationKey"} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output does not mention %q:\n%s", want, out)
		}
	}
}
