package testenv

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// WidgetgateBinary returns $WIDGETGATE_BIN, or builds ./cmd/widgetgate once
// per test process into a temporary folder.
func WidgetgateBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("WIDGETGATE_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "widgetgate-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "widgetgate")
		cmd := exec.Command("go", "build", "-o", builtBin, "./cmd/widgetgate")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/widgetgate: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// Widgetgate is a running widgetgate process.
type Widgetgate struct {
	URL    string // http://127.0.0.1:port
	addr   string
	config string // path of its Caddyfile
	cmd    *exec.Cmd
	env    []string
	done   chan struct{}
	logMu  sync.Mutex
	logBuf bytes.Buffer
}

// Log returns everything widgetgate wrote so far (its JSON logs).
func (w *Widgetgate) Log() string {
	w.logMu.Lock()
	defer w.logMu.Unlock()
	return w.logBuf.String()
}

// WaitLog waits until widgetgate has logged a line containing substr.
// The process writes its log to a pipe that a goroutine copies here, so a
// line written before an answer was sent may arrive after the answer:
// assert that something was logged with WaitLog, not with Log.
func (w *Widgetgate) WaitLog(t testing.TB, substr string) {
	t.Helper()
	WaitFor(t, 10*time.Second, fmt.Sprintf("widgetgate to log %q", substr), func() error {
		if strings.Contains(w.Log(), substr) {
			return nil
		}
		return fmt.Errorf("not in the log yet")
	})
}

// FinalLog stops widgetgate (SIGINT, as at the end of the test) and
// returns its whole log. A test asserting that something never reaches the
// log checks FinalLog, so that lines still in the pipe are checked too.
func (w *Widgetgate) FinalLog(t testing.TB) string {
	t.Helper()
	stop(w.cmd, w.done)
	return w.Log()
}

func (w *Widgetgate) Write(p []byte) (int, error) {
	w.logMu.Lock()
	defer w.logMu.Unlock()
	return w.logBuf.Write(p)
}

// StartWidgetgate writes caddyfile (with "{addr}" replaced by a free
// loopback address) and runs widgetgate with it, env added to the
// environment. It returns once the server answers.
func StartWidgetgate(t testing.TB, caddyfile string, env ...string) *Widgetgate {
	t.Helper()
	bin := WidgetgateBinary(t)
	addr := FreeAddr(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cfgPath, []byte(strings.ReplaceAll(caddyfile, "{addr}", addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	w := &Widgetgate{URL: "http://" + addr, addr: addr, config: cfgPath,
		env: append(append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir), env...)}
	w.run(t, bin)
	t.Cleanup(func() {
		stop(w.cmd, w.done)
		if t.Failed() {
			t.Logf("widgetgate log:\n%s", w.Log())
		}
	})
	return w
}

// Pid is the process id of the running widgetgate.
func (w *Widgetgate) Pid() int { return w.cmd.Process.Pid }

// Restart starts an exited widgetgate again, on the same address with the
// same config and environment, and returns once it answers.
func (w *Widgetgate) Restart(t testing.TB) {
	t.Helper()
	select {
	case <-w.done:
	default:
		t.Fatal("testenv: Widgetgate.Restart while it runs")
	}
	w.run(t, WidgetgateBinary(t))
}

// run starts the process and waits until it answers.
func (w *Widgetgate) run(t testing.TB, bin string) {
	t.Helper()
	w.done = make(chan struct{})
	w.cmd = exec.Command(bin, "run", "--config", w.config, "--adapter", "caddyfile")
	w.cmd.Env = w.env
	w.cmd.Stdout, w.cmd.Stderr = w, w
	if err := w.cmd.Start(); err != nil {
		t.Fatalf("starting widgetgate: %v", err)
	}
	cmd, done := w.cmd, w.done
	go func() { cmd.Wait(); close(done) }()
	WaitFor(t, 30*time.Second, "widgetgate to listen", func() error {
		select {
		case <-w.done:
			t.Fatalf("widgetgate exited early:\n%s", w.Log())
		default:
		}
		resp, err := httpClient.Get(w.URL + "/")
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil
	})
}

// Run runs the widgetgate binary with args and returns its combined output.
func Run(t testing.TB, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(WidgetgateBinary(t), args...).CombinedOutput()
	return string(out), err
}

// Signal sends sig to the widgetgate process.
func (w *Widgetgate) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := w.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling widgetgate: %v", err)
	}
}

// Done is closed when the widgetgate process has exited.
func (w *Widgetgate) Done() <-chan struct{} { return w.done }

// ReloadWith rewrites widgetgate's Caddyfile ("{addr}" replaced as at
// start) and reloads it.
func (w *Widgetgate) ReloadWith(t testing.TB, caddyfile string) {
	t.Helper()
	if err := os.WriteFile(w.config, []byte(strings.ReplaceAll(caddyfile, "{addr}", w.addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	w.Reload(t)
}

// Reload makes widgetgate reload its config file (SIGUSR1, which Caddy
// answers with a forced reload from the file it was started with) and
// returns once the new config serves.
func (w *Widgetgate) Reload(t testing.TB) {
	t.Helper()
	const done = "successfully reloaded config from file"
	before := strings.Count(w.Log(), done)
	w.Signal(t, syscall.SIGUSR1)
	WaitFor(t, 30*time.Second, "widgetgate to reload", func() error {
		if strings.Count(w.Log(), done) > before {
			return nil
		}
		if strings.Contains(w.Log(), "failed to reload config from file") {
			t.Fatalf("widgetgate could not reload:\n%s", w.Log())
		}
		return fmt.Errorf("not reloaded yet")
	})
}
