package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a process the harness started (pinned with taskset when the
// machine has two cores or more).
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	started time.Time
	done    chan struct{}
}

var (
	procsMu sync.Mutex
	running = map[*proc]bool{}
)

// pinned returns argv run on cpu ("" = unpinned).
func pinned(cpu, bin string, args ...string) []string {
	if cpu == "" {
		return append([]string{bin}, args...)
	}
	return append([]string{"taskset", "-c", cpu, bin}, args...)
}

// startProc starts argv with env added, output to logPath.
func startProc(name, logPath string, env []string, argv ...string) (*proc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() { cmd.Wait(); logFile.Close(); close(p.done) }()
	procsMu.Lock()
	running[p] = true
	procsMu.Unlock()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// logTail returns the end of the process's log, for error messages.
func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// stop asks the process to exit (SIGTERM), then kills it after 10 s.
func (p *proc) stop() {
	procsMu.Lock()
	delete(running, p)
	procsMu.Unlock()
	if p.exited() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// stopAll stops every process still running (on exit or interrupt).
func stopAll() {
	procsMu.Lock()
	var ps []*proc
	for p := range running {
		ps = append(ps, p)
	}
	procsMu.Unlock()
	for _, p := range ps {
		p.stop()
	}
}

// pids returns the process and its direct children (nginx's worker).
func (p *proc) pids() []int {
	out := []int{p.pid()}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, err := procStat(pid); err == nil && ppid == p.pid() {
			out = append(out, pid)
		}
	}
	return out
}

// procStat reads a process's parent and its CPU time (user+system, in
// clock ticks) from /proc/<pid>/stat.
func procStat(pid int) (ppid int, ticks int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return 0, 0, errors.New("bad stat")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return 0, 0, errors.New("short stat")
	}
	ppid, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ppid, ut + st, nil
}

// clockTick is USER_HZ: 100 on every Linux the harness targets.
const clockTick = 100

// cpuSeconds returns the CPU time used so far by the process and its children.
func (p *proc) cpuSeconds() float64 {
	var t int64
	for _, pid := range p.pids() {
		if _, ticks, err := procStat(pid); err == nil {
			t += ticks
		}
	}
	return float64(t) / clockTick
}

// memKiB sums a /proc/<pid>/status field (VmHWM, VmRSS) over the process
// and its children, in KiB.
func (p *proc) memKiB(field string) int64 {
	var total int64
	for _, pid := range p.pids() {
		f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
				n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				total += n
			}
		}
		f.Close()
	}
	return total
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitUntil polls check every interval until it succeeds, p exits, or timeout passes.
func waitUntil(p *proc, timeout, interval time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited early:\n%s", p.name, p.logTail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s: %v", timeout, p.name, err)
		}
		time.Sleep(interval)
	}
}

// waitHTTP waits until url answers anything over HTTP.
func waitHTTP(p *proc, url string) error {
	c := &http.Client{Timeout: 2 * time.Second}
	return waitUntil(p, 60*time.Second, 20*time.Millisecond, func() error {
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
}

// mkdirs creates dir (and parents) and returns it.
func mkdirs(parts ...string) string {
	d := filepath.Join(parts...)
	if err := os.MkdirAll(d, 0o755); err != nil {
		panic(err)
	}
	return d
}
