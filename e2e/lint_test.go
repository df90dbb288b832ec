package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/widgetgate/widgetgate/internal/testenv"
)

// lint runs "widgetgate lint args..." and returns its exit status and
// output.
func lint(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(testenv.WidgetgateBinary(t), append([]string{"lint"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("running widgetgate lint: %v", err)
	}
	return code, out.String(), errOut.String()
}

// TestLint runs the real command: the shipped examples are clean, a broken
// package gets every error and status 1, --json parses, usage errors get 2.
// No Vault and no Caddyfile are involved.
func TestLint(t *testing.T) {
	examples, _ := filepath.Glob(filepath.Join("..", "examples", "widgets", "*"))
	if len(examples) == 0 {
		t.Fatal("no example widgets")
	}
	broken := filepath.Join(t.TempDir(), "broken")
	os.MkdirAll(broken, 0o755)
	os.WriteFile(filepath.Join(broken, "schema.json"), []byte(`{
	  "authentications": [{"authenticationType": "passport", "authKey": "k"}],
	  "authenticatedApis": [
	    {"label": "x", "name": "x", "url": "https://h.example/{param.a", "method": "GET", "authenticationKey": "k"},
	    {"label": "y", "name": "y", "url": "https://h.example/y", "method": "TRACE", "authenticationKey": "nope"}]}`), 0o644)

	t.Run("examples are clean", func(t *testing.T) {
		code, out, errOut := lint(t, examples...)
		if code != 0 || !strings.Contains(out, "3 packages checked: 0 errors") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		// The same, given the widgets folder itself.
		if code, out2, _ := lint(t, filepath.Join("..", "examples", "widgets")); code != 0 || out2 != out {
			t.Errorf("the folder of packages: exit %d\n%s", code, out2)
		}
	})

	t.Run("every error, status 1", func(t *testing.T) {
		code, out, _ := lint(t, broken)
		if code != 1 {
			t.Fatalf("exit %d, want 1\n%s", code, out)
		}
		file := filepath.Join(broken, "schema.json")
		for _, want := range []string{
			file + ": authenticatedApis[0] (x).url: url path: unclosed '{'",
			file + `: authenticatedApis[1] (y).method: "TRACE" is not one of`,
			file + `: authenticatedApis[1] (y).authenticationKey: "nope" matches no`,
			"1 package checked: 3 errors, 0 warnings",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("--json", func(t *testing.T) {
		code, out, errOut := lint(t, append([]string{"--json", broken}, examples...)...)
		if code != 1 {
			t.Fatalf("exit %d, want 1\n%s", code, errOut)
		}
		var doc struct {
			Packages []struct {
				Path, Widget     string
				Errors, Warnings []struct{ File, Field, Message string }
			}
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("--json output: %v\n%s", err, out)
		}
		if len(doc.Packages) != 4 || doc.Packages[0].Widget != "broken" || len(doc.Packages[0].Errors) != 3 {
			t.Fatalf("packages = %+v", doc.Packages)
		}
		if e := doc.Packages[0].Errors[1]; e.Field != "authenticatedApis[1] (y).method" || !strings.HasSuffix(e.File, "broken/schema.json") {
			t.Errorf("second error = %+v", e)
		}
		for _, p := range doc.Packages[1:] {
			if len(p.Errors) != 0 {
				t.Errorf("%s: errors %+v", p.Widget, p.Errors)
			}
		}
		if w := doc.Packages[3]; w.Widget != "my-saas" || !strings.Contains(out, "customApplicationInfo.metadata.clientSecret") {
			t.Errorf("my-saas's literal client secret is not warned about: %+v", w.Warnings)
		}
	})

	t.Run("usage errors, status 2", func(t *testing.T) {
		for _, args := range [][]string{nil, {"--bogus", broken}, {filepath.Join(broken, "missing")}} {
			code, out, errOut := lint(t, args...)
			if code != 2 || out != "" || !strings.Contains(errOut, "usage: widgetgate lint") {
				t.Errorf("lint %q: exit %d, stdout %q, stderr %q", args, code, out, errOut)
			}
		}
	})
}
