// Command loadbench is widgetgate's load benchmark: widgetgate (envelope
// and raw mode) against bare Caddy (the same binary, reverse_proxy) and
// nginx, all adding a bearer token in front of the same loopback upstream
// (bench/upstream), loaded with wrk. Run it through bench/run.sh (which
// installs wrk and nginx and builds the binaries):
//
//	bench/run.sh smoke   # seconds: one configuration, fails on any wrong answer
//	bench/run.sh full    # the whole measurement, ~30 minutes, results in bench/results/<date>/
//
// The method follows PERFORMANCE.md: wrk on CPU 0, upstream and proxy on
// CPU 1 (Go processes with GOMAXPROCS=1, nginx with one worker); targets
// interleaved within each round; every target checked for status 200 and
// the exact body before it is measured; the upstream's accepted
// connections counted to prove keep-alive held; the same idle pool for
// every proxy. See BENCHMARKS.md.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var wrkBin = "wrk"

type options struct {
	mode            string
	widgetgateBin   string
	upstreamBin     string
	vaultBin        string
	nginxBin        string
	out             string
	duration        time.Duration
	warmup          time.Duration
	rounds          int
	conns           []int
	bodies          []string
	phases          map[string]bool
	pool            int
	memConns        []int
	growthWidgets   []int
	growthPassports []int
	scanWait        time.Duration
	profileSecs     int
	profileTargets  string
	cacheConns      []int
	cacheBodies     []string
	cacheTargets    []string
	identical       int
	identicalDelay  time.Duration
}

func main() {
	log.SetFlags(0)
	var o options
	var conns, bodies, phases, memConns, gw, gp, cacheConns, cacheBodies, cacheTargets string
	flag.StringVar(&o.mode, "mode", "smoke", "smoke (seconds, one configuration) or full (the whole measurement); other flags override the mode's settings")
	flag.StringVar(&o.widgetgateBin, "widgetgate", "bin/widgetgate", "the widgetgate binary (also serves as bare Caddy)")
	flag.StringVar(&o.upstreamBin, "upstream", "", "the bench/upstream binary (required)")
	flag.StringVar(&o.vaultBin, "vault", os.Getenv("VAULT_BIN"), "the vault binary (default $VAULT_BIN)")
	flag.StringVar(&o.nginxBin, "nginx", "", "the nginx binary (default: nginx on PATH or /usr/sbin/nginx)")
	flag.StringVar(&o.out, "out", "", "results folder (default: bench/results/<date> in full mode, a temporary folder in smoke mode)")
	flag.DurationVar(&o.duration, "duration", 0, "length of one measured wrk run")
	flag.DurationVar(&o.warmup, "warmup", 0, "wrk warm-up before each measured run (same target and concurrency); wrk takes whole seconds")
	flag.IntVar(&o.rounds, "rounds", 0, "rounds of the interleaved throughput matrix")
	flag.StringVar(&conns, "conns", "", "concurrencies, comma-separated")
	flag.StringVar(&bodies, "bodies", "", "body sizes: 1k,100k,1m (1m is measured at the lowest concurrency only)")
	flag.StringVar(&phases, "phases", "", "phases to run: throughput,memory,growth-widgets,growth-passports,profile,cache (cache runs only when named)")
	flag.IntVar(&o.pool, "pool", 1024, "idle keep-alive pool to the upstream, the same for every proxy")
	flag.StringVar(&memConns, "mem-conns", "", "concurrencies of the memory phase")
	flag.StringVar(&gw, "growth-widgets", "", "widget package counts of the growth phase")
	flag.StringVar(&gp, "growth-passports", "", "passport+binding counts of the growth phase")
	flag.DurationVar(&o.scanWait, "scan-wait", 0, "growth-passports: how long after start to watch Vault for the background refresher's first scan")
	flag.IntVar(&o.profileSecs, "profile-seconds", 10, "length of each CPU profile")
	flag.StringVar(&o.profileTargets, "profile-targets", "wg-envelope:1k,wg-raw:1k,caddy:1k,wg-envelope:100k,wg-raw:100k", "what the profile phase profiles: target:body, comma-separated (targets: wg-envelope, wg-raw, wg-hit, caddy, nginx)")
	flag.StringVar(&cacheConns, "cache-conns", "", "concurrencies of the cache phase (default 16 in smoke mode, 16,64 in full mode)")
	flag.StringVar(&cacheBodies, "cache-bodies", "1k,100k", "body sizes of the cache phase")
	flag.StringVar(&cacheTargets, "cache-targets", "caddy-respond,wg-hit,wg-miss", "what the cache phase measures in each cell, in turn: caddy-respond (serving the hit's bytes), caddy-file (file_server, the same bytes), wg-hit, wg-miss")
	flag.IntVar(&o.identical, "identical", 1000, "cache phase: identical calls sent at once (twice: a cold key, then within the TTL); 0 skips")
	flag.DurationVar(&o.identicalDelay, "identical-delay", 200*time.Millisecond, "cache phase: how long the upstream takes to answer the identical calls (its -slow-delay)")
	flag.Parse()

	preset := map[string]struct {
		duration, warmup, scanWait         time.Duration
		rounds                             int
		conns, bodies, phases, mem, gw, gp string
		cacheConns                         string
	}{
		"smoke": {1 * time.Second, 1 * time.Second, 0, 1, "16", "1k", "throughput", "", "", "", "16"},
		"full": {10 * time.Second, 2 * time.Second, 80 * time.Second, 3, "16,64,256", "1k,100k,1m",
			"throughput,memory,growth-widgets,growth-passports,profile", "256,1000", "1,100,10000", "1,10000,100000", "16,64"},
	}
	p, ok := preset[o.mode]
	if !ok {
		log.Fatalf("loadbench: -mode must be smoke or full")
	}
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&conns, p.conns)
	def(&bodies, p.bodies)
	def(&phases, p.phases)
	def(&memConns, p.mem)
	def(&gw, p.gw)
	def(&gp, p.gp)
	def(&cacheConns, p.cacheConns)
	if o.duration == 0 {
		o.duration = p.duration
	}
	if o.warmup == 0 {
		o.warmup = p.warmup
	}
	if o.rounds == 0 {
		o.rounds = p.rounds
	}
	if o.scanWait == 0 {
		o.scanWait = p.scanWait
	}
	o.conns, o.memConns, o.growthWidgets, o.growthPassports = ints(conns), ints(memConns), ints(gw), ints(gp)
	o.bodies = strings.Split(bodies, ",")
	o.cacheConns, o.cacheBodies, o.cacheTargets = ints(cacheConns), strings.Split(cacheBodies, ","), strings.Split(cacheTargets, ",")
	o.phases = map[string]bool{}
	for _, ph := range strings.Split(phases, ",") {
		o.phases[ph] = true
	}
	if o.upstreamBin == "" || o.vaultBin == "" {
		log.Fatal("loadbench: -upstream and -vault (or $VAULT_BIN) are required; run it through bench/run.sh")
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		log.Print("loadbench: interrupted, stopping everything")
		stopAll()
		os.Exit(130)
	}()

	b, err := newBench(o)
	if err == nil {
		err = b.run()
	}
	stopAll()
	if err != nil {
		log.Fatalf("loadbench: %v", err)
	}
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			log.Fatalf("loadbench: %q is not a number", f)
		}
		out = append(out, n)
	}
	return out
}

// bench is one run of the harness.
type bench struct {
	opt                  options
	work, out            string
	token                string // the upstream's bearer token
	cpuClient, cpuServer string
	vault                *vaultEnv
	up                   *proc
	upAddr               string
	httpc                *http.Client
	expected             map[string][]byte // body size -> the upstream's exact body
	scripts              map[string]string
	wrkLog               *os.File
	results              []runResult
	failures             []string
	summary              strings.Builder
	started              time.Time
	streamRows           []streamRow
	growthW, growthP     []growthRow
	wgRequests           int64 // every request wrk sent widgetgate, warm-ups included
}

func newBench(o options) (*bench, error) {
	b := &bench{opt: o, token: "bench-token-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		expected: map[string][]byte{}, scripts: map[string]string{}, started: time.Now()}
	b.httpc = &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}}
	var err error
	if o.nginxBin == "" {
		if b.opt.nginxBin, err = exec.LookPath("nginx"); err != nil {
			b.opt.nginxBin = "/usr/sbin/nginx"
		}
	}
	for _, bin := range []string{o.widgetgateBin, o.upstreamBin, o.vaultBin, b.opt.nginxBin} {
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("missing binary: %v", err)
		}
	}
	if _, err := exec.LookPath(wrkBin); err != nil {
		return nil, fmt.Errorf("wrk not found: %v", err)
	}
	// Pinning needs two cores this process may use (a container's cpuset
	// may not start at 0): wrk, Vault and this driver on the first, the
	// upstream and the proxy under test on the second.
	if cpus := allowedCPUs(); len(cpus) >= 2 {
		if _, err := exec.LookPath("taskset"); err == nil {
			b.cpuClient, b.cpuServer = strconv.Itoa(cpus[0]), strconv.Itoa(cpus[1])
			exec.Command("taskset", "-a", "-p", "-c", b.cpuClient, strconv.Itoa(os.Getpid())).Run()
		}
	}
	// wrk and the proxies need a file descriptor per connection (and two
	// for a proxy): raise the soft limit for every child.
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	if b.work, err = os.MkdirTemp("", "widgetgate-loadbench-"); err != nil {
		return nil, err
	}
	os.Chmod(b.work, 0o755) // nginx's worker runs as nobody when started as root
	b.out = o.out
	if b.out == "" {
		if o.mode == "full" {
			b.out = filepath.Join("bench", "results", time.Now().Format("2006-01-02"))
			for i := 2; exists(b.out); i++ {
				b.out = filepath.Join("bench", "results", time.Now().Format("2006-01-02")+"-"+strconv.Itoa(i))
			}
		} else {
			b.out = filepath.Join(b.work, "results")
		}
	}
	mkdirs(b.out)
	if b.wrkLog, err = os.Create(filepath.Join(b.out, "wrk-runs.txt")); err != nil {
		return nil, err
	}
	return b, nil
}

// machineCPUs counts the machine's CPUs (runtime.NumCPU counts only
// those this process may run on, and run.sh pins it to one).
func machineCPUs() int {
	ci, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.NumCPU()
	}
	n := 0
	for line := range strings.Lines(string(ci)) {
		if strings.HasPrefix(line, "processor") {
			n++
		}
	}
	return max(n, 1)
}

// allowedCPUs lists the CPUs this process may run on (Cpus_allowed_list).
func allowedCPUs() []int {
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil
	}
	var cpus []int
	for line := range strings.Lines(string(st)) {
		list, ok := strings.CutPrefix(line, "Cpus_allowed_list:")
		if !ok {
			continue
		}
		for _, part := range strings.Split(strings.TrimSpace(list), ",") {
			lo, hi, isRange := strings.Cut(part, "-")
			a, err1 := strconv.Atoi(lo)
			z := a
			var err2 error
			if isRange {
				z, err2 = strconv.Atoi(hi)
			}
			if err1 != nil || err2 != nil {
				return nil
			}
			for c := a; c <= z; c++ {
				cpus = append(cpus, c)
			}
		}
	}
	return cpus
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func (b *bench) logf(format string, args ...any) {
	fmt.Printf("[%5.0fs] %s\n", time.Since(b.started).Seconds(), fmt.Sprintf(format, args...))
}

func (b *bench) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.failures = append(b.failures, msg)
	fmt.Println("FAIL: " + msg)
}

func (b *bench) run() error {
	pin := "unpinned (fewer than 2 CPUs or no taskset)"
	if b.cpuServer != "" {
		pin = "wrk on CPU " + b.cpuClient + ", upstream and proxy on CPU " + b.cpuServer
	}
	b.logf("mode %s: %s; work dir %s; results %s", b.opt.mode, pin, b.work, b.out)
	if err := b.writeEnv(); err != nil {
		return err
	}
	var err error
	// Vault runs on the client core: it is idle in steady state, and it
	// must not steal the server core when it is not.
	if b.vault, err = startVault(b.opt.vaultBin, b.cpuClient, b.work); err != nil {
		return err
	}
	// The bench passport and binding, stored the way an operator would
	// (README "Vault layout"); bulk passports for the growth phase go
	// through the API instead.
	exp := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	for _, args := range [][]string{
		{"kv", "put", "-mount=secret", "widgetgate/passports/bench-passport",
			"provider=google", "status=active", "access_token=" + b.token, "token_type=Bearer", "expiry=" + exp},
		{"kv", "put", "-mount=secret", "widgetgate/bindings/bench-screen", "benchAuth=bench-passport"},
	} {
		if err := b.vault.cli(args...); err != nil {
			return err
		}
	}
	if err := b.startUpstream(); err != nil {
		return err
	}
	phases := []struct {
		name string
		fn   func() error
	}{
		{"throughput", b.phaseThroughput},
		{"memory", b.phaseMemory},
		{"growth-widgets", b.phaseGrowthWidgets},
		{"growth-passports", b.phaseGrowthPassports},
		{"cache", b.phaseCache},
		{"profile", b.phaseProfile},
	}
	for _, ph := range phases {
		if !b.opt.phases[ph.name] {
			continue
		}
		b.logf("== phase %s", ph.name)
		if err := ph.fn(); err != nil {
			b.fail("phase %s: %v", ph.name, err)
			if b.opt.mode == "smoke" {
				break
			}
		}
		b.save()
	}
	var st struct{ Unauthorized int64 }
	if err := b.upstreamStats(&st); err != nil {
		b.fail("upstream stats: %v", err)
	} else if st.Unauthorized > 1 { // 1: startUpstream's own check
		b.fail("the upstream answered 401 to %d requests: a proxy did not send the token", st.Unauthorized-1)
	}
	if b.opt.mode == "full" {
		b.summarizeTargets()
	}
	b.save()
	fmt.Println()
	fmt.Print(b.summary.String())
	if !strings.HasPrefix(b.out, b.work) || len(b.failures) > 0 {
		fmt.Printf("\nresults in %s\n", b.out)
	}
	if len(b.failures) > 0 {
		return fmt.Errorf("%d failure(s):\n  %s", len(b.failures), strings.Join(b.failures, "\n  "))
	}
	os.RemoveAll(b.work)
	return nil
}

// save writes what has been measured so far.
func (b *bench) save() {
	js, _ := json.MarshalIndent(b.results, "", "  ")
	os.WriteFile(filepath.Join(b.out, "results.json"), js, 0o644)
	s := b.summary.String()
	if len(b.failures) > 0 {
		s += "\n## Failures\n\n- " + strings.Join(b.failures, "\n- ") + "\n"
	}
	os.WriteFile(filepath.Join(b.out, "summary.md"), []byte(s), 0o644)
}

// writeEnv records the machine, versions and command.
func (b *bench) writeEnv() error {
	var s strings.Builder
	fmt.Fprintf(&s, "date: %s\n", time.Now().UTC().Format(time.RFC3339))
	if c := os.Getenv("BENCH_COMMAND"); c != "" {
		fmt.Fprintf(&s, "command: %s\n", c)
	}
	fmt.Fprintf(&s, "driver: %s\n", strings.Join(os.Args, " "))
	fmt.Fprintf(&s, "mode: %s, duration %s, warm-up %s, rounds %d, conns %v, bodies %v, pool %d\n",
		b.opt.mode, b.opt.duration, b.opt.warmup, b.opt.rounds, b.opt.conns, b.opt.bodies, b.opt.pool)
	if b.opt.phases["cache"] {
		fmt.Fprintf(&s, "cache phase: conns %v, bodies %v, targets %v, %d identical calls, upstream delay %s\n",
			b.opt.cacheConns, b.opt.cacheBodies, b.opt.cacheTargets, b.opt.identical, b.opt.identicalDelay)
	}
	fmt.Fprintf(&s, "pinning: client CPU %q, server CPU %q\n", b.cpuClient, b.cpuServer)
	fmt.Fprintf(&s, "nproc: %d (online CPUs of the machine)\n", machineCPUs())
	if ci, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(ci)) {
			if strings.HasPrefix(line, "model name") {
				s.WriteString(strings.Join(strings.Fields(line), " ") + "\n")
				break
			}
		}
	}
	if mi, err := os.ReadFile("/proc/meminfo"); err == nil {
		s.WriteString(strings.Join(strings.Fields(strings.SplitN(string(mi), "\n", 2)[0]), " ") + "\n")
	}
	cmdOut := func(argv ...string) string {
		out, _ := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	fmt.Fprintf(&s, "kernel: %s\n", cmdOut("uname", "-srm"))
	fmt.Fprintf(&s, "go: %s\n", cmdOut("go", "version"))
	fmt.Fprintf(&s, "widgetgate version: %s\n", cmdOut(b.opt.widgetgateBin, "version"))
	if bin, err := os.ReadFile(b.opt.widgetgateBin); err == nil {
		fmt.Fprintf(&s, "widgetgate binary sha256: %x (%d bytes)\n", sha256.Sum256(bin), len(bin))
	}
	if gm, err := os.ReadFile("go.mod"); err == nil {
		for line := range strings.Lines(string(gm)) {
			if strings.Contains(line, "github.com/caddyserver/caddy/v2 ") {
				fmt.Fprintf(&s, "caddy (go.mod): %s\n", strings.TrimSpace(line))
			}
		}
	}
	fmt.Fprintf(&s, "nginx: %s\n", cmdOut(b.opt.nginxBin, "-v"))
	fmt.Fprintf(&s, "wrk: %s\n", cmdOut(wrkBin, "-v"))
	fmt.Fprintf(&s, "vault: %s\n", cmdOut(b.opt.vaultBin, "version"))
	fmt.Fprintf(&s, "load average at start: %s\n", cmdOut("cat", "/proc/loadavg"))
	return os.WriteFile(filepath.Join(b.out, "env.txt"), []byte(s.String()), 0o644)
}

// ---- the upstream and the proxies ----

func (b *bench) startUpstream() error {
	b.upAddr = freeAddr()
	p, err := startProc("upstream", filepath.Join(b.work, "upstream.log"), []string{"GOMAXPROCS=1"},
		pinned(b.cpuServer, b.opt.upstreamBin, "-addr", b.upAddr, "-token", b.token, "-slow-delay", b.opt.identicalDelay.String())...)
	if err != nil {
		return err
	}
	b.up = p
	if err := waitHTTP(p, "http://"+b.upAddr+"/stats"); err != nil {
		return err
	}
	// What every proxy must deliver, byte for byte.
	for _, size := range []string{"1k", "100k", "1m"} {
		req, _ := http.NewRequest("GET", "http://"+b.upAddr+"/json/"+size, nil)
		req.Header.Set("Authorization", "Bearer "+b.token)
		resp, err := b.httpc.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("upstream /json/%s: %s", size, resp.Status)
		}
		b.expected[size] = body
	}
	req, _ := http.NewRequest("GET", "http://"+b.upAddr+"/json/1k", nil)
	resp, err := b.httpc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		return fmt.Errorf("upstream answered %s without a token, want 401", resp.Status)
	}
	return nil
}

func (b *bench) upstreamStats(v any) error {
	resp, err := b.httpc.Get("http://" + b.upAddr + "/stats")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// server is a running proxy.
type server struct {
	kind string // widgetgate, caddy, nginx
	proc *proc
	addr string
}

// goEnv is the environment of a Caddy process: one P, like one nginx
// worker, and a private home for Caddy's data and config folders.
func goEnv(home string) []string {
	return []string{"GOMAXPROCS=1", "HOME=" + home, "XDG_DATA_HOME=" + home, "XDG_CONFIG_HOME=" + home}
}

var serverSeq int

// serverOpts are what a server may be given beyond its kind.
type serverOpts struct {
	widgetsDir  string // widgetgate: the widget packages (default: one "bench" package)
	global      string // widgetgate: more options of the global widgetgate block (response_cache)
	respondBody []byte // caddy-respond: the body (default: the upstream's 1 KB document)
	configName  string // the config's name in the results (default Caddyfile.<kind>)
}

func (b *bench) startServer(kind, admin, widgetsDir string) (*server, error) {
	return b.startServerWith(kind, admin, serverOpts{widgetsDir: widgetsDir})
}

func (b *bench) startServerWith(kind, admin string, so serverOpts) (*server, error) {
	serverSeq++
	dir := mkdirs(b.work, fmt.Sprintf("%s-%d", kind, serverSeq))
	s := &server{kind: kind, addr: freeAddr()}
	var argv, env []string
	widgetsDir := so.widgetsDir
	keep := func(def, cfg string) {
		if so.configName != "" {
			def = so.configName
		}
		b.keepConfig(def, cfg)
	}
	switch kind {
	case "widgetgate", "caddy":
		cfg := caddyCaddyfile(s.addr, admin, b.upAddr, b.token, b.opt.pool)
		if kind == "widgetgate" {
			if widgetsDir == "" {
				widgetsDir = filepath.Join(b.work, "widgets-1")
				if !exists(widgetsDir) {
					if _, err := writeWidgets(widgetsDir, 1, b.upAddr); err != nil {
						return nil, err
					}
				}
			}
			cfg = widgetgateCaddyfile(s.addr, admin, widgetsDir, b.vault.proxyAddr, b.opt.pool, so.global)
		}
		path := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			return nil, err
		}
		keep("Caddyfile."+kind, cfg)
		argv = pinned(b.cpuServer, b.opt.widgetgateBin, "run", "--config", path, "--adapter", "caddyfile")
		env = goEnv(dir)
		if kind == "widgetgate" {
			env = append(env, "VAULT_TOKEN="+b.vault.token)
		}
	case "caddy-respond":
		body := so.respondBody
		if body == nil {
			body = b.expected["1k"]
		}
		if bytes.ContainsRune(body, '`') {
			return nil, fmt.Errorf("caddy-respond: the body holds a backtick, which the Caddyfile's quoting cannot")
		}
		cfg := respondCaddyfile(s.addr, body)
		path := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			return nil, err
		}
		keep("Caddyfile.caddy-respond", cfg)
		argv = pinned(b.cpuServer, b.opt.widgetgateBin, "run", "--config", path, "--adapter", "caddyfile")
		env = goEnv(dir)
	case "caddy-file":
		root := mkdirs(dir, "root")
		if err := os.WriteFile(filepath.Join(root, "body.json"), so.respondBody, 0o644); err != nil {
			return nil, err
		}
		cfg := fileCaddyfile(s.addr, root)
		path := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			return nil, err
		}
		keep("Caddyfile.caddy-file", cfg)
		argv = pinned(b.cpuServer, b.opt.widgetgateBin, "run", "--config", path, "--adapter", "caddyfile")
		env = goEnv(dir)
	case "nginx":
		for _, t := range []string{"client", "proxy", "fastcgi", "uwsgi", "scgi"} {
			os.Chmod(mkdirs(dir, "tmp", t), 0o777)
		}
		os.Chmod(dir, 0o755)
		cfg := nginxConf(dir, s.addr, b.upAddr, b.token, b.opt.pool)
		path := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			return nil, err
		}
		keep("nginx.conf", cfg)
		argv = pinned(b.cpuServer, b.opt.nginxBin, "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", path)
	}
	p, err := startProc(kind, filepath.Join(dir, "log"), env, argv...)
	if err != nil {
		return nil, err
	}
	s.proc = p
	if err := waitHTTP(p, "http://"+s.addr+"/"); err != nil {
		p.stop()
		return nil, err
	}
	return s, nil
}

// keepConfig saves a generated config in the results (token masked).
func (b *bench) keepConfig(name, cfg string) {
	os.WriteFile(filepath.Join(b.out, name), []byte(strings.ReplaceAll(cfg, b.token, "<token>")), 0o644)
}

// ---- targets: what wrk loads ----

// target is one thing measured: the upstream itself, a proxy, or
// widgetgate in one mode.
type target struct {
	name string // upstream, caddy, nginx, wg-raw, wg-envelope
	srv  *server
}

func (t target) proc(b *bench) *proc {
	if t.srv == nil {
		return b.up
	}
	return t.srv.proc
}

func (t target) addr(b *bench) string {
	if t.srv == nil {
		return b.upAddr
	}
	return t.srv.addr
}

const benchInstance = "bench-screen"

// wgRequest is a widget call: envelope (POST) or raw (GET).
func wgRequest(mode, widget, instance, api, size string) request {
	base := "/sidecar/widgets/" + widget + "/apis/" + api
	h := [][2]string{{"X-Widget-Instance", instance}}
	if mode == "raw" {
		return request{method: "GET", path: base + "/raw?size=" + size, headers: h}
	}
	return request{method: "POST", path: base, headers: append(h, [2]string{"Content-Type", "application/json"}),
		body: `{"params":{"size":"` + size + `"}}`}
}

// request returns what target t is sent for a body size.
func (b *bench) request(t target, size string) request {
	switch t.name {
	case "upstream":
		return request{method: "GET", path: "/json/" + size, headers: [][2]string{{"Authorization", "Bearer " + b.token}}}
	case "wg-raw":
		return wgRequest("raw", "bench", benchInstance, "getJSON", size)
	case "wg-envelope", "wg-hit":
		return wgRequest("envelope", "bench", benchInstance, "getJSON", size)
	}
	return request{method: "GET", path: "/json/" + size}
}

// missRotation is how many distinct calls envelope mode rotates through,
// so that identical calls in flight are never coalesced (which would
// measure sharing, not the cost of a call).
const missRotation = 1000

// requests returns what target t is sent for a body size, in turn.
func (b *bench) requests(t target, size string) []request {
	if t.name == "wg-envelope" {
		return keyedRequests(size, missRotation)
	}
	return []request{b.request(t, size)}
}

// do sends r to addr and returns the status and body.
func (b *bench) do(addr string, r request) (int, []byte, error) {
	status, _, body, err := b.doHeader(addr, r)
	return status, body, err
}

// doHeader is do with the response's headers.
func (b *bench) doHeader(addr string, r request) (int, http.Header, []byte, error) {
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, "http://"+addr+r.path, body)
	if err != nil {
		return 0, nil, nil, err
	}
	for _, h := range r.headers {
		req.Header.Set(h[0], h[1])
	}
	resp, err := b.httpc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out, err
}

// check sends one request to t and verifies status 200 and the exact body
// (for the envelope: statusCode 200 and the provider body embedded byte
// for byte). It returns the length of the HTTP body received.
func (b *bench) check(t target, r request, size string) (int, error) {
	status, body, err := b.do(t.addr(b), r)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %v", t.name, size, err)
	}
	if err := b.checkAnswer(t.name, size, status, body); err != nil {
		return 0, err
	}
	return len(body), nil
}

// checkAnswer is check's verdict on one answer of target name.
func (b *bench) checkAnswer(name, size string, status int, body []byte) error {
	if status != 200 {
		return fmt.Errorf("%s %s: status %d, want 200: %.300s", name, size, status, body)
	}
	want := b.expected[size]
	got := body
	if name == "wg-envelope" || name == "wg-hit" || name == "wg-miss" || name == "wg-identical" {
		var env struct {
			StatusCode int             `json:"statusCode"`
			Body       json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			return fmt.Errorf("%s %s: not an envelope: %v", name, size, err)
		}
		if env.StatusCode != 200 {
			return fmt.Errorf("%s %s: envelope statusCode %d, want 200: %.300s", name, size, env.StatusCode, body)
		}
		got = env.Body
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%s %s: body of %d bytes, want the upstream's %d bytes exactly", name, size, len(got), len(want))
	}
	return nil
}

// ---- measuring ----

// runResult is one measured wrk run.
type runResult struct {
	Phase            string           `json:"phase"`
	Target           string           `json:"target"`
	Body             string           `json:"body"`
	Conns            int              `json:"conns"`
	Round            int              `json:"round"`
	Note             string           `json:"note,omitempty"`
	RPS              float64          `json:"rps"`
	Wrk              wrkOut           `json:"wrk"`
	ProxyCPUUSPerReq float64          `json:"proxy_cpu_us_per_req"`
	CoreCPUUSPerReq  float64          `json:"server_core_cpu_us_per_req"` // proxy + upstream
	CoreBusy         float64          `json:"server_core_busy"`           // (proxy+upstream CPU) / wall time
	NewUpstreamConns int64            `json:"new_upstream_conns"`
	SteadyNewConns   int64            `json:"new_upstream_conns_after_first_second"`
	UpstreamRequests int64            `json:"upstream_requests"`
	VaultCalls       map[string]int64 `json:"vault_calls,omitempty"`
	VaultCallsTotal  int64            `json:"vault_calls_total"`
	HWMKiB           int64            `json:"vm_hwm_kib"`
	RSSKiB           int64            `json:"vm_rss_kib"`
}

type upStats struct{ Accepted, Requests, Unauthorized int64 }

// measure warms t up, then runs wrk with reqs (sent in turn) at conns and
// records the result. respLen is the smallest response body expected.
func (b *bench) measure(phase string, t target, size string, conns, round int, reqs []request, respLen int) (runResult, error) {
	script, err := b.script(reqs)
	if err != nil {
		return runResult{}, err
	}
	url := "http://" + t.addr(b) + reqs[0].path
	isWG := strings.HasPrefix(t.name, "wg-")
	if b.opt.warmup > 0 {
		w, text, err := runWrk(b.cpuClient, url, script, conns, b.opt.warmup)
		if err != nil {
			fmt.Fprintf(b.wrkLog, "### warm-up %s %s %s c%d round %d\n%s\n", phase, t.name, size, conns, round, text)
			return runResult{}, err
		}
		if isWG {
			b.wgRequests += w.Requests
		}
	}
	p := t.proc(b)
	var u0, u1 upStats
	if err := b.upstreamStats(&u0); err != nil {
		return runResult{}, err
	}
	cpu0, ucpu0, v0, t0 := p.cpuSeconds(), b.up.cpuSeconds(), b.vault.snapshot(), time.Now()
	// Keep-alive is judged after the first second: when the previous wrk
	// run stopped, it cut off requests in flight, and a Go proxy then
	// closes those upstream connections and dials new ones at the start
	// of this run. That is not churn; redialing during the run is.
	mid := make(chan upStats, 1)
	go func() {
		var u upStats
		if b.opt.duration >= 3*time.Second {
			time.Sleep(time.Second)
			b.upstreamStats(&u)
		} else {
			u = u0
		}
		mid <- u
	}()
	o, text, err := runWrk(b.cpuClient, url, script, conns, b.opt.duration)
	uMid := <-mid
	wall := time.Since(t0).Seconds()
	cpu1, ucpu1, v1 := p.cpuSeconds(), b.up.cpuSeconds(), b.vault.snapshot()
	fmt.Fprintf(b.wrkLog, "### %s %s %s c%d round %d\n%s\n", phase, t.name, size, conns, round, text)
	if err != nil {
		return runResult{}, err
	}
	if err := b.upstreamStats(&u1); err != nil {
		return runResult{}, err
	}
	r := runResult{Phase: phase, Target: t.name, Body: size, Conns: conns, Round: round, RPS: o.rps(), Wrk: o,
		NewUpstreamConns: u1.Accepted - u0.Accepted, SteadyNewConns: u1.Accepted - uMid.Accepted, UpstreamRequests: u1.Requests - u0.Requests,
		HWMKiB: p.memKiB("VmHWM"), RSSKiB: p.memKiB("VmRSS")}
	if o.Requests > 0 {
		pc := cpu1 - cpu0
		core := pc
		if p != b.up {
			core += ucpu1 - ucpu0
		}
		r.ProxyCPUUSPerReq = pc / float64(o.Requests) * 1e6
		r.CoreCPUUSPerReq = core / float64(o.Requests) * 1e6
		r.CoreBusy = core / wall
	}
	if isWG {
		r.VaultCalls, r.VaultCallsTotal = diffCounts(v0, v1)
		b.wgRequests += o.Requests
	}
	b.results = append(b.results, r)
	label := fmt.Sprintf("%s %s %s c%d round %d", phase, t.name, size, conns, round)
	switch {
	case o.Requests == 0:
		b.fail("%s: no requests completed", label)
	case o.errors() != "":
		b.fail("%s: wrk saw errors: %s", label, o.errors())
	case o.Bytes/o.Requests < int64(respLen):
		b.fail("%s: %d bytes per response, less than the %d-byte body", label, o.Bytes/o.Requests, respLen)
	case t.name == "wg-hit" && r.UpstreamRequests != 0:
		b.fail("%s: the upstream saw %d requests during a run that must be all cache hits", label, r.UpstreamRequests)
	case t.name != "caddy-respond" && t.name != "caddy-file" && t.name != "wg-hit" && r.UpstreamRequests < o.Requests:
		b.fail("%s: the upstream saw %d requests for %d answers", label, r.UpstreamRequests, o.Requests)
	case t.name != "upstream" && r.SteadyNewConns*100 > o.Requests:
		b.fail("%s: keep-alive did not hold: %d new upstream connections for %d requests", label, r.SteadyNewConns, o.Requests)
	}
	b.logf("%-40s %8.0f req/s  p50 %6.2f ms  p99 %7.2f ms  proxy %5.1f µs/req  new upstream conns %d (%d after 1 s)",
		label, r.RPS, o.P50US/1000, o.P99US/1000, r.ProxyCPUUSPerReq, r.NewUpstreamConns, r.SteadyNewConns)
	return r, nil
}

// script writes (once) the wrk script for reqs and returns its path.
func (b *bench) script(reqs []request) (string, error) {
	text := luaScript(reqs)
	if p, ok := b.scripts[text]; ok {
		return p, nil
	}
	p := filepath.Join(b.work, fmt.Sprintf("script-%d.lua", len(b.scripts)))
	b.scripts[text] = p
	return p, os.WriteFile(p, []byte(text), 0o644)
}

// ---- phase: throughput matrix ----

func (b *bench) phaseThroughput() error {
	srv := map[string]*server{}
	for _, kind := range []string{"caddy", "nginx", "widgetgate", "caddy-respond"} {
		s, err := b.startServer(kind, "off", "")
		if err != nil {
			return err
		}
		defer s.proc.stop()
		srv[kind] = s
	}
	targets := []target{{"caddy", srv["caddy"]}, {"nginx", srv["nginx"]}, {"wg-raw", srv["widgetgate"]}, {"wg-envelope", srv["widgetgate"]}}
	type cell struct {
		size  string
		conns int
	}
	var cells []cell
	for _, size := range b.opt.bodies {
		for i, c := range b.opt.conns {
			if size == "1m" && i > 0 {
				break // 1 MB bodies: the lowest concurrency only
			}
			cells = append(cells, cell{size, c})
		}
	}
	// For scale, in the first cell only, when it is 1 KB (the body the
	// `respond` config serves): the upstream alone (what the server core
	// does without a proxy) and Caddy answering the same body with
	// `respond` (the floor of any Caddy handler).
	refs := []target{{name: "upstream"}, {"caddy-respond", srv["caddy-respond"]}}
	// Check every target before measuring anything.
	respLen := map[string]int{}
	for i, size := range b.opt.bodies {
		ts := targets
		if i == 0 && size == "1k" {
			ts = append(slices.Clone(refs), targets...)
		}
		for _, t := range ts {
			n, err := b.check(t, b.request(t, size), size)
			if err != nil {
				return err
			}
			respLen[t.name+size] = n
		}
	}
	b.logf("every target answers 200 with the exact body")
	v0, wg0, t0 := b.vault.snapshot(), b.wgRequests, time.Now()
	for round := 1; round <= b.opt.rounds; round++ {
		for ci, c := range cells {
			ts := targets
			if ci == 0 && c.size == "1k" {
				ts = append(slices.Clone(refs), targets...)
			}
			for _, t := range ts {
				if _, err := b.measure("throughput", t, c.size, c.conns, round, b.requests(t, c.size), respLen[t.name+c.size]); err != nil {
					return err
				}
			}
		}
	}
	b.summarizeThroughput()
	calls, total := diffCounts(v0, b.vault.snapshot())
	reqs := b.wgRequests - wg0
	fmt.Fprintf(&b.summary, "\nVault, over the whole throughput phase (%s, warm-ups included): %d calls (%s) for %d widgetgate requests = %.2g per request. "+
		"In steady state widgetgate re-reads each binding and passport it uses once per cache_ttl (30 s) in the background, and the refresher lists passports once a minute; no request waits on Vault.\n",
		time.Since(t0).Round(time.Second), total, kinds(calls), reqs, float64(total)/float64(max(reqs, 1)))
	return nil
}

// ---- phase: memory ----

func (b *bench) phaseMemory() error {
	var rows []runResult
	for _, conns := range b.opt.memConns {
		for _, name := range []string{"caddy", "nginx", "wg-raw", "wg-envelope"} {
			kind := map[string]string{"wg-raw": "widgetgate", "wg-envelope": "widgetgate"}[name]
			if kind == "" {
				kind = name
			}
			s, err := b.startServer(kind, "off", "")
			if err != nil {
				return err
			}
			t := target{name, s}
			n, err := b.check(t, b.request(t, "1k"), "1k")
			if err == nil {
				var r runResult
				r, err = b.measure("memory", t, "1k", conns, 1, b.requests(t, "1k"), n)
				rows = append(rows, r)
			}
			s.proc.stop()
			if err != nil {
				return err
			}
		}
	}
	// Streaming: peak RSS after 1 MiB, then after 1 GiB, in one fresh process.
	var streams []streamRow
	for _, name := range []string{"caddy", "nginx", "wg-raw"} {
		kind := name
		if name == "wg-raw" {
			kind = "widgetgate"
		}
		s, err := b.startServer(kind, "off", "")
		if err != nil {
			return err
		}
		row := streamRow{name: name, rssAfterStartup: s.proc.memKiB("VmRSS")}
		path := func(size string) string {
			if name == "wg-raw" {
				return wgRequest("raw", "bench", benchInstance, "getStream", size).path
			}
			return "/stream/" + size
		}
		var hdr [][2]string
		if name == "wg-raw" {
			hdr = [][2]string{{"X-Widget-Instance", benchInstance}}
		}
		for i := 0; i < 8 && err == nil; i++ {
			_, err = b.stream(s.addr, path("1m"), hdr, 1<<20)
		}
		row.hwm1m = s.proc.memKiB("VmHWM")
		var d time.Duration
		if err == nil {
			d, err = b.stream(s.addr, path("1g"), hdr, 1<<30)
		}
		row.hwm1g = s.proc.memKiB("VmHWM")
		row.mbps = float64(1<<30) / d.Seconds() / (1 << 20)
		s.proc.stop()
		if err != nil {
			return err
		}
		b.logf("stream %s: VmHWM %d KiB after 8×1 MiB, %d KiB after 1 GiB (%.0f MiB/s)", name, row.hwm1m, row.hwm1g, row.mbps)
		streams = append(streams, row)
	}
	b.streamRows = streams

	w := &b.summary
	fmt.Fprintf(w, "\n## Memory: peak RSS (VmHWM) of a fresh process after %s of 1 KB calls\n\n", b.opt.duration)
	fmt.Fprintf(w, "nginx is master + worker. Idle pool %d for every proxy.\n\n", b.opt.pool)
	fmt.Fprintf(w, "| conns | target | req/s | peak RSS MiB | × bare Caddy | RSS at end MiB | new upstream conns |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		var base int64
		for _, c := range rows {
			if c.Conns == r.Conns && c.Target == "caddy" {
				base = c.HWMKiB
			}
		}
		fmt.Fprintf(w, "| %d | %s | %.0f | %.1f | %s | %.1f | %d |\n", r.Conns, r.Target, r.RPS, mib(r.HWMKiB), ratio(float64(r.HWMKiB), float64(base)), mib(r.RSSKiB), r.NewUpstreamConns)
	}
	fmt.Fprintf(w, "\n## Memory: streaming (one download at a time, fresh process)\n\n")
	fmt.Fprintf(w, "| target | RSS after start MiB | peak RSS after 8 × 1 MiB | peak RSS after + 1 GiB | growth | 1 GiB throughput MiB/s |\n|---|---|---|---|---|---|\n")
	for _, s := range streams {
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %+.1f MiB | %.0f |\n", s.name, mib(s.rssAfterStartup), mib(s.hwm1m), mib(s.hwm1g), mib(s.hwm1g-s.hwm1m), s.mbps)
	}
	return nil
}

// stream downloads path and checks its length; it returns how long it took.
func (b *bench) stream(addr, path string, hdr [][2]string, want int64) (time.Duration, error) {
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	for _, h := range hdr {
		req.Header.Set(h[0], h[1])
	}
	t0 := time.Now()
	resp, err := b.httpc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %v after %d bytes", path, err, n)
	}
	if resp.StatusCode != 200 || n != want {
		return 0, fmt.Errorf("stream %s: status %d, %d bytes, want 200 and %d bytes", path, resp.StatusCode, n, want)
	}
	return time.Since(t0), nil
}

// streamRow is one proxy's memory while streaming.
type streamRow struct {
	name            string
	hwm1m, hwm1g    int64
	mbps            float64
	rssAfterStartup int64
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

// ---- phase: growth ----

// startTimed starts widgetgate and measures the time until it listens and
// until call answers 200.
func (b *bench) startTimed(widgetsDir string, call request) (*server, time.Duration, time.Duration, error) {
	t0 := time.Now()
	s, err := b.startServer("widgetgate", "off", widgetsDir)
	if err != nil {
		return nil, 0, 0, err
	}
	listening := time.Since(t0)
	err = waitUntil(s.proc, 60*time.Second, 2*time.Millisecond, func() error {
		st, body, err := b.do(s.addr, call)
		if err == nil && st != 200 {
			err = fmt.Errorf("status %d: %.200s", st, body)
		}
		return err
	})
	if err != nil {
		s.proc.stop()
		return nil, 0, 0, err
	}
	return s, listening, time.Since(t0), nil
}

// spread returns up to k indexes spread evenly over [0, n).
func spread(n, k int) []int {
	k = min(n, k)
	out := make([]int, k)
	for i := range k {
		out[i] = i * n / k
	}
	return out
}

const rotation = 1000 // distinct widgets or instances one load run cycles through

type growthRow struct {
	n                        int
	listen, firstOK          time.Duration
	rssStart                 int64
	run                      runResult
	populate                 time.Duration
	scanCalls                map[string]int64
	scanTotal                int64
	scanDur                  time.Duration
	rssAfterScan, hwmAfterSc int64
	after                    *runResult
}

func (b *bench) phaseGrowthWidgets() error {
	var rows []growthRow
	for _, n := range b.opt.growthWidgets {
		dir := filepath.Join(b.work, fmt.Sprintf("widgets-%d", n))
		if !exists(dir) {
			if _, err := writeWidgets(dir, n, b.upAddr); err != nil {
				return err
			}
		}
		ids := []string{"bench"}
		if n > 1 {
			ids = nil
			for _, i := range spread(n, rotation) {
				ids = append(ids, fmt.Sprintf("w%05d", i))
			}
		}
		var reqs []request
		for _, id := range ids {
			reqs = append(reqs, wgRequest("envelope", id, benchInstance, "getJSON", "1k"))
		}
		s, listen, firstOK, err := b.startTimed(dir, reqs[len(reqs)-1])
		if err != nil {
			return err
		}
		row := growthRow{n: n, listen: listen, firstOK: firstOK, rssStart: s.proc.memKiB("VmRSS")}
		t := target{"wg-envelope", s}
		respLen, err := b.check(t, reqs[0], "1k")
		if err == nil {
			row.run, err = b.measure("growth-widgets", t, "1k", 16, 1, reqs, respLen)
		}
		s.proc.stop()
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	b.growthW = rows
	w := &b.summary
	fmt.Fprintf(w, "\n## Growth: widget packages (envelope, 1 KB, 16 conns, %s; each run cycles through up to %d widgets)\n\n", b.opt.duration, rotation)
	fmt.Fprintf(w, "| widgets | listening after ms | first 200 after ms | RSS after start MiB | req/s | p50 ms | p99 ms | RSS after load MiB | Vault calls during load |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(w, "| %d | %d | %d | %.1f | %.0f | %.3f | %.3f | %.1f | %d |\n", r.n, r.listen.Milliseconds(), r.firstOK.Milliseconds(),
			mib(r.rssStart), r.run.RPS, r.run.Wrk.P50US/1000, r.run.Wrk.P99US/1000, mib(r.run.RSSKiB), r.run.VaultCallsTotal)
	}
	return nil
}

func (b *bench) phaseGrowthPassports() error {
	var rows []growthRow
	have := 0
	for _, n := range b.opt.growthPassports {
		row := growthRow{n: n}
		if n > have {
			// Vault may use both cores while it is being filled.
			if b.cpuServer != "" {
				exec.Command("taskset", "-a", "-p", "-c", "0,1", strconv.Itoa(b.vault.proc.pid())).Run()
			}
			t0 := time.Now()
			err := b.vault.putMany(have, n, b.token)
			row.populate = time.Since(t0)
			if b.cpuServer != "" {
				exec.Command("taskset", "-a", "-p", "-c", b.cpuClient, strconv.Itoa(b.vault.proc.pid())).Run()
			}
			if err != nil {
				return fmt.Errorf("writing passports: %v", err)
			}
			b.logf("wrote passports and bindings %d..%d in %s", have, n, row.populate.Round(time.Millisecond))
			have = n
		}
		idx := spread(n, rotation)
		var reqs []request
		for _, i := range idx {
			reqs = append(reqs, wgRequest("envelope", "bench", instanceID(i), "getJSON", "1k"))
		}
		s, listen, firstOK, err := b.startTimed("", reqs[len(reqs)-1])
		if err != nil {
			return err
		}
		row.listen, row.firstOK, row.rssStart = listen, firstOK, s.proc.memKiB("VmRSS")
		// Warm the instances the run uses (each is one binding and one
		// passport read), then measure: steady state makes no Vault call.
		for _, r := range reqs {
			if st, body, err := b.do(s.addr, r); err != nil || st != 200 {
				s.proc.stop()
				return fmt.Errorf("warming %s: %d %v %.200s", r.headers[0][1], st, err, body)
			}
		}
		t := target{"wg-envelope", s}
		respLen, err := b.check(t, reqs[0], "1k")
		if err == nil {
			row.run, err = b.measure("growth-passports", t, "1k", 16, 1, reqs, respLen)
		}
		if err == nil && b.opt.scanWait > 0 {
			err = b.watchScan(s, &row, reqs, respLen)
		}
		s.proc.stop()
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	b.growthP = rows
	w := &b.summary
	fmt.Fprintf(w, "\n## Growth: passports + bindings in Vault (envelope, 1 KB, 16 conns, %s; each run cycles through up to %d instances, warmed first)\n\n", b.opt.duration, rotation)
	fmt.Fprintf(w, "| passports | written in s | first 200 after ms | RSS after start MiB | req/s | p50 ms | p99 ms | Vault calls during load |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(w, "| %d | %.1f | %d | %.1f | %.0f | %.3f | %.3f | %d |\n", r.n, r.populate.Seconds(), r.firstOK.Milliseconds(),
			mib(r.rssStart), r.run.RPS, r.run.Wrk.P50US/1000, r.run.Wrk.P99US/1000, r.run.VaultCallsTotal)
	}
	if b.opt.scanWait > 0 {
		fmt.Fprintf(w, "\nBackground refresher (default `refresh` settings: first scan 48–72 s after start): Vault calls from the end of the load run until Vault went quiet after the first scan, then RSS and one more load run after the scan.\n\n")
		fmt.Fprintf(w, "| passports | Vault calls (by kind) | watched s | RSS after MiB | peak RSS MiB | req/s after | p50 ms after | p99 ms after | Vault calls during that load |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range rows {
			a := runResult{}
			if r.after != nil {
				a = *r.after
			}
			fmt.Fprintf(w, "| %d | %d (%s) | %.0f | %.1f | %.1f | %.0f | %.3f | %.3f | %d |\n", r.n, r.scanTotal, kinds(r.scanCalls), r.scanDur.Seconds(),
				mib(r.rssAfterScan), mib(r.hwmAfterSc), a.RPS, a.Wrk.P50US/1000, a.Wrk.P99US/1000, a.VaultCallsTotal)
		}
	}
	return nil
}

// watchScan waits (idle) for the background refresher's first scan, counts
// the Vault calls it makes, then measures once more.
func (b *bench) watchScan(s *server, row *growthRow, reqs []request, respLen int) error {
	v0, t0 := b.vault.snapshot(), time.Now()
	deadline := s.proc.started.Add(b.opt.scanWait + 10*time.Minute)
	last, quietSince := int64(0), time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(time.Second)
		_, total := diffCounts(v0, b.vault.snapshot())
		if total != last {
			last, quietSince = total, time.Now()
		}
		if time.Since(s.proc.started) > b.opt.scanWait && time.Since(quietSince) > 3*time.Second {
			break
		}
	}
	row.scanCalls, row.scanTotal = diffCounts(v0, b.vault.snapshot())
	row.scanDur = time.Since(t0)
	row.rssAfterScan, row.hwmAfterSc = s.proc.memKiB("VmRSS"), s.proc.memKiB("VmHWM")
	b.logf("passports %d: %d Vault calls in %s after the load run (%s)", row.n, row.scanTotal, row.scanDur.Round(time.Second), kinds(row.scanCalls))
	r, err := b.measure("growth-passports-after-scan", target{"wg-envelope", s}, "1k", 16, 1, reqs, respLen)
	row.after = &r
	return err
}

func kinds(m map[string]int64) string {
	var parts []string
	for _, k := range []string{"passports get", "bindings get", "passports list", "token lookup-self", "token renew-self"} {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
	}
	for k, n := range m {
		if !strings.Contains(strings.Join(parts, ","), k) {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// ---- phase: CPU profile ----

// phaseProfile profiles widgetgate (envelope, then raw) and bare Caddy
// under load through Caddy's admin endpoint (/debug/pprof), opened for
// this run only.
func (b *bench) phaseProfile() error {
	w := &b.summary
	fmt.Fprintf(w, "\n## CPU profiles (64 conns, %d s each)\n\n", b.opt.profileSecs)
	for _, spec := range strings.Split(b.opt.profileTargets, ",") {
		tname, size, _ := strings.Cut(spec, ":")
		if b.expected[size] == nil {
			return fmt.Errorf("-profile-targets: %q: the body must be 1k, 100k or 1m", spec)
		}
		kind := "widgetgate"
		if tname == "caddy" || tname == "nginx" {
			kind = tname
		}
		name := tname + "-" + size
		admin := freeAddr()
		var so serverOpts
		if tname == "wg-hit" {
			// The cache phase's widgetgate: check's call fills the cache,
			// and every call wrk sends is a hit.
			dir, err := b.cacheWidgets()
			if err != nil {
				return err
			}
			so = serverOpts{widgetsDir: dir, global: cacheGlobal, configName: "Caddyfile.widgetgate-cache"}
		}
		s, err := b.startServerWith(kind, admin, so)
		if err != nil {
			return err
		}
		t := target{tname, s}
		reqs := b.requests(t, size)
		r := reqs[0]
		script, err := b.script(reqs)
		if err == nil {
			_, err = b.check(t, r, size)
		}
		if err != nil {
			s.proc.stop()
			return err
		}
		done := make(chan error, 1)
		go func() {
			_, _, err := runWrk(b.cpuClient, "http://"+s.addr+r.path, script, 64, time.Duration(b.opt.profileSecs+3)*time.Second)
			done <- err
		}()
		time.Sleep(time.Second)
		prof := filepath.Join(b.out, "cpu-"+name+".prof")
		err = b.fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", admin, b.opt.profileSecs), prof)
		if werr := <-done; err == nil {
			err = werr
		}
		s.proc.stop()
		if err != nil {
			return err
		}
		for _, v := range []struct{ suffix, args string }{
			{"top-cum", "-top -cum -nodecount=40"},
			{"top-flat", "-top -nodecount=40"},
			// Only widgetgate's and net/http's own frames: where the
			// handler's time goes, without Caddy's and the runtime's.
			{"top-cum-widgetgate-nethttp", "-top -cum -nodecount=60 -show=widgetgate/widgetgate|net/http"},
		} {
			args := append(append([]string{"tool", "pprof"}, strings.Fields(v.args)...), b.opt.widgetgateBin, prof)
			out, err := exec.Command("go", args...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("go tool pprof: %v\n%s", err, out)
			}
			os.WriteFile(filepath.Join(b.out, "cpu-"+name+"-"+v.suffix+".txt"), out, 0o644)
		}
		fmt.Fprintf(w, "- %s: `cpu-%s.prof`, `cpu-%s-top-cum.txt`, `cpu-%s-top-flat.txt`, `cpu-%s-top-cum-widgetgate-nethttp.txt`\n", name, name, name, name, name)
		b.logf("profiled %s", name)
	}
	return nil
}

func (b *bench) fetch(url, path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(b.opt.profileSecs+30)*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := b.httpc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}
