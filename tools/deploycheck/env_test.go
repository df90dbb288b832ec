package deploycheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// repo is the repository root.
var repo = func() string {
	abs, err := filepath.Abs("../..")
	if err != nil {
		panic(err)
	}
	return abs
}()

// deployDir is a path under deploy/.
func deployDir(parts ...string) string {
	return filepath.Join(append([]string{repo, "deploy"}, parts...)...)
}

// widgetgateBin is the widgetgate binary; the test fails without it.
func widgetgateBin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("WIDGETGATE_BIN")
	if bin == "" {
		bin = filepath.Join(repo, "bin", "widgetgate")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("widgetgate binary: %v (run make build, or set WIDGETGATE_BIN)", err)
	}
	return bin
}

// vaultBin is the Vault binary; the test fails without it.
func vaultBin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("VAULT_BIN")
	if bin == "" {
		t.Fatal("VAULT_BIN is not set: make deploy-check sets it to $(scripts/vault.sh)")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("VAULT_BIN: %v", err)
	}
	return bin
}

// freePort returns a loopback TCP port nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// adapt runs `widgetgate adapt` on a Caddyfile with env as the only
// environment (the Caddyfile's {$VAR} placeholders are read at adapt
// time) and returns the JSON config.
func adapt(t testing.TB, caddyfile string, env map[string]string) map[string]any {
	t.Helper()
	cmd := exec.Command(widgetgateBin(t), "adapt", "--config", caddyfile, "--adapter", "caddyfile")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("widgetgate adapt --config %s: %v\n%s", caddyfile, err, stderr.String())
	}
	// adapt warns on stderr (for instance about formatting); a warning is
	// a finding: the shipped Caddyfiles are to adapt cleanly.
	if strings.Contains(stderr.String(), `"level":"warn"`) || strings.Contains(stderr.String(), "WARN") {
		t.Errorf("widgetgate adapt --config %s warns:\n%s", caddyfile, stderr.String())
	}
	var cfg map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &cfg); err != nil {
		t.Fatalf("adapt output is not JSON: %v", err)
	}
	return cfg
}

// at walks a JSON value by keys (objects) and returns what is there, or nil.
func at(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// str is at for a string value ("" when absent).
func str(v any, keys ...string) string {
	s, _ := at(v, keys...).(string)
	return s
}

// duration is at for a Caddy duration (nanoseconds in adapted JSON).
func duration(v any, keys ...string) time.Duration {
	switch d := at(v, keys...).(type) {
	case float64:
		return time.Duration(d)
	case string:
		p, err := time.ParseDuration(d)
		if err != nil {
			panic(fmt.Sprintf("duration %v at %v: %v", d, keys, err))
		}
		return p
	}
	return 0
}

// writeJSON writes v as a JSON file in dir and returns its path.
func writeJSON(t testing.TB, dir, name string, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// process is a child process whose output is kept for failure messages.
type process struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	waited chan struct{}
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

// Output is what the process wrote so far.
func (p *process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// start runs name with args until the test ends (SIGTERM, then SIGKILL).
func start(t testing.TB, env []string, name string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(name, args...), waited: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.waited) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.waited:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.waited
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", filepath.Base(name), p.Output())
		}
	})
	return p
}

// noRedirects is a client that returns redirects as they come.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// get fetches url and returns the status and body; status 0 when the
// request failed.
func get(url string, header ...string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err.Error()
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFor polls until cond holds or the time is up; it returns cond's last
// words.
func waitFor(t testing.TB, p *process, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, last := cond()
		if ok {
			if os.Getenv("DEPLOYCHECK_LOG") != "" {
				t.Logf("%s: after %s", what, within-time.Until(deadline))
			}
			return
		}
		if p != nil {
			select {
			case <-p.waited:
				t.Fatalf("%s: the process exited (%v); last: %s", what, p.cmd.ProcessState, last)
			default:
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last: %s", what, within, last)
		}
		if p != nil {
			select {
			case <-tick.C:
			case <-p.waited: // reported by the check above, at once
			}
		} else {
			<-tick.C
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if schemaDir != "" {
		os.RemoveAll(schemaDir)
	}
	os.Exit(code)
}
