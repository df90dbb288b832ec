package deploycheck

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// unit is a systemd unit file: each key's values in order.
type unit map[string][]string

func readUnit(t testing.TB, name string) unit {
	t.Helper()
	f, err := os.Open(deployDir("systemd", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is no key=value", name, line)
		}
		u[k] = append(u[k], v)
	}
	return u
}

// one is the key's only value.
func (u unit) one(t testing.TB, key string) string {
	t.Helper()
	if len(u[key]) != 1 {
		t.Fatalf("unit key %s: %d values, want 1", key, len(u[key]))
	}
	return u[key][0]
}

// agentHCL is deploy/systemd/vault-agent.hcl.
func agentHCL(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(deployDir("systemd", "vault-agent.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func hclString(t testing.TB, hcl, key string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*` + key + `\s*=\s*"([^"]*)"`).FindStringSubmatch(hcl)
	if m == nil {
		t.Fatalf("vault-agent.hcl: no %s", key)
	}
	return m[1]
}

// TestSystemdFilesAgree checks the unit, the agent's unit and
// configuration, sysusers and the Caddyfile against each other: the paths
// one writes are the ones the other reads, the stop timeout covers the
// drain, the hardening asked for is there.
func TestSystemdFilesAgree(t *testing.T) {
	wg := readUnit(t, "widgetgate.service")
	agent := readUnit(t, "widgetgate-vault-agent.service")
	hcl := agentHCL(t)
	cfg := adapt(t, deployDir("systemd", "Caddyfile"), nil)

	// The same Caddyfile for run and reload.
	start, reload := wg.one(t, "ExecStart"), wg.one(t, "ExecReload")
	if want := "/usr/local/bin/widgetgate run --config /etc/widgetgate/Caddyfile --adapter caddyfile"; start != want {
		t.Errorf("ExecStart=%s, want %s", start, want)
	}
	if !strings.HasPrefix(reload, "/usr/local/bin/widgetgate reload --config /etc/widgetgate/Caddyfile --adapter caddyfile") {
		t.Errorf("ExecReload=%s does not reload the Caddyfile ExecStart runs", reload)
	}

	// Hardening (values as the brief asks; systemd-analyze verify and
	// security check the rest in verify.sh).
	for key, want := range map[string]string{
		"DynamicUser": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"NoNewPrivileges": "yes", "CapabilityBoundingSet": "", "AmbientCapabilities": "",
		"LockPersonality": "yes", "MemoryDenyWriteExecute": "yes", "Type": "notify",
		"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
	} {
		if got := wg.one(t, key); got != want {
			t.Errorf("widgetgate.service %s=%q, want %q", key, got, want)
		}
	}
	if !contains(wg["SystemCallFilter"], "@system-service") {
		t.Errorf("SystemCallFilter=%v lacks @system-service", wg["SystemCallFilter"])
	}
	// Unprivileged ports only, since it has no capability.
	for name, s := range serversOf(t, cfg) {
		for _, l := range s["listen"].([]any) {
			var port int
			fmt.Sscanf(l.(string)[strings.LastIndex(l.(string), ":")+1:], "%d", &port)
			if port < 1024 {
				t.Errorf("server %s listens on %v, a privileged port, with CapabilityBoundingSet= empty", name, l)
			}
		}
	}

	// Stop: shutdown_delay + grace_period + answer_timeout + 5s.
	httpApp := at(cfg, "apps", "http")
	need := duration(httpApp, "shutdown_delay") + duration(httpApp, "grace_period") + duration(cfg, "apps", "widgetgate", "refresh", "answer_timeout") + 5*time.Second
	stop, err := time.ParseDuration(wg.one(t, "TimeoutStopSec"))
	if err != nil || stop < need || duration(httpApp, "grace_period") == 0 {
		t.Errorf("TimeoutStopSec=%s, want at least %s (and a grace_period)", wg.one(t, "TimeoutStopSec"), need)
	}

	// Directories: widgets under StateDirectory, the admin socket under
	// RuntimeDirectory, Caddy's files under StateDirectory, the token where
	// the agent's sink writes it, in the agent's RuntimeDirectory.
	state := strings.Fields(wg.one(t, "StateDirectory"))
	if wd := str(cfg, "apps", "widgetgate", "widgets_dir"); !contains(prefixed("/var/lib/", state), wd) {
		t.Errorf("widgets_dir %s is not one of StateDirectory=%v", wd, state)
	}
	if adm := str(cfg, "admin", "listen"); adm != "unix//run/"+wg.one(t, "RuntimeDirectory")+"/admin.sock" {
		t.Errorf("admin listens on %q, not in RuntimeDirectory=%s", adm, wg.one(t, "RuntimeDirectory"))
	}
	for _, e := range strings.Fields(wg.one(t, "Environment")) {
		if k, v, _ := strings.Cut(e, "="); strings.HasPrefix(k, "XDG_") && !strings.HasPrefix(v, "/var/lib/"+state[0]+"/") {
			t.Errorf("%s=%s is not under StateDirectory (the rest is read-only)", k, v)
		}
	}
	token := str(cfg, "apps", "widgetgate", "vault", "token_file")
	if sink := hclString(t, hcl, "path"); sink != token {
		t.Errorf("the agent writes %s, widgetgate reads %s", sink, token)
	}
	if filepath.Dir(token) != "/run/"+agent.one(t, "RuntimeDirectory") {
		t.Errorf("token_file %s is not in the agent's RuntimeDirectory=%s", token, agent.one(t, "RuntimeDirectory"))
	}
	if !regexp.MustCompile(`(?m)^\s*mode\s*=\s*0640\s*$`).MatchString(hcl) || agent.one(t, "RuntimeDirectoryMode") != "0750" {
		t.Error("the sink must be mode 0640 in a 0750 directory: readable by its group only")
	}
	if g := agent.one(t, "Group"); wg.one(t, "SupplementaryGroups") != g {
		t.Errorf("the agent writes as group %s, widgetgate has supplementary groups %s", g, wg.one(t, "SupplementaryGroups"))
	}
	// The agent's credentials are systemd credentials of its own unit.
	for _, key := range []string{"role_id_file_path", "secret_id_file_path"} {
		p := hclString(t, hcl, key)
		name := filepath.Base(p)
		if filepath.Dir(p) != "/run/credentials/widgetgate-vault-agent.service" || !anyOf(agent["LoadCredential"], func(v string) bool { return strings.HasPrefix(v, name+":") }) {
			t.Errorf("%s %s is not a LoadCredential= of widgetgate-vault-agent.service", key, p)
		}
	}
	if agent.one(t, "ExecStart") != "/usr/bin/vault agent -config=/etc/widgetgate/vault-agent.hcl" {
		t.Errorf("the agent's ExecStart=%s does not run vault-agent.hcl", agent.one(t, "ExecStart"))
	}
	// sysusers creates the static user and group the units name.
	sysusers, _ := os.ReadFile(deployDir("systemd", "widgetgate.sysusers"))
	for _, line := range []string{"g " + agent.one(t, "Group") + " ", "u " + agent.one(t, "User") + " ", "m " + agent.one(t, "User") + " " + agent.one(t, "Group")} {
		if !strings.Contains(string(sysusers), "\n"+line) {
			t.Errorf("widgetgate.sysusers lacks %q", line)
		}
	}
}

func prefixed(prefix string, s []string) []string {
	out := make([]string, len(s))
	for i, e := range s {
		out[i] = prefix + e
	}
	return out
}

func anyOf(s []string, f func(string) bool) bool {
	for _, e := range s {
		if f(e) {
			return true
		}
	}
	return false
}

// TestSystemdStack runs what the two units run, with their files moved
// into a temporary folder: deploy/vault/setup.sh approle, Vault Agent with
// vault-agent.hcl writing its sink, widgetgate with the host Caddyfile
// reading it until readiness is 200, then the unit's ExecReload.
func TestSystemdStack(t *testing.T) {
	t.Parallel()
	v := startVault(t)
	dir := t.TempDir()
	creds, sinkDir, runDir, stateDir := filepath.Join(dir, "creds"), filepath.Join(dir, "agent"), filepath.Join(dir, "run"), filepath.Join(dir, "state")
	for _, d := range []string{creds, sinkDir, runDir, filepath.Join(stateDir, "widgets")} {
		os.MkdirAll(d, 0o750)
	}
	v.cli(t, []string{"OUT_DIR=" + creds}, deployDir("vault", "setup.sh"), "approle")

	// Vault Agent, as widgetgate-vault-agent.service runs it.
	moved := strings.NewReplacer(
		"https://vault.internal:8200", v.addr,
		"/run/credentials/widgetgate-vault-agent.service/", creds+"/",
		"/run/widgetgate-agent/", sinkDir+"/",
		"/run/widgetgate/", runDir+"/",
		"/var/lib/widgetgate/", stateDir+"/",
		"/etc/widgetgate/Caddyfile", filepath.Join(dir, "Caddyfile"),
		"/usr/local/bin/widgetgate", widgetgateBin(t),
	)
	agentFile := filepath.Join(dir, "vault-agent.hcl")
	os.WriteFile(agentFile, []byte(moved.Replace(agentHCL(t))), 0o600)
	agentCmd := strings.Fields(readUnit(t, "widgetgate-vault-agent.service").one(t, "ExecStart"))
	agentCmd[0] = v.bin
	agentCmd[len(agentCmd)-1] = "-config=" + agentFile
	agentProc := start(t, []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}, agentCmd[0], agentCmd[1:]...)
	sink := filepath.Join(sinkDir, "token")
	waitFor(t, agentProc, 20*time.Second, "the agent's sink", func() (bool, string) {
		b, err := os.ReadFile(sink)
		return err == nil && len(b) > 0, fmt.Sprint(err)
	})
	if fi, _ := os.Stat(sink); fi.Mode().Perm() != 0o640 {
		t.Errorf("the sink is mode %v, want 0640", fi.Mode().Perm())
	}
	tok, _ := os.ReadFile(sink)
	self, err := v.client(t, strings.TrimSpace(string(tok))).Auth().Token().LookupSelf()
	if err != nil {
		t.Fatal(err)
	}
	if pols, _ := self.TokenPolicies(); !contains(pols, "widgetgate") {
		t.Errorf("the agent's token has policies %v, want widgetgate", pols)
	}

	// widgetgate, as widgetgate.service runs it, with loopback ports and a
	// short shutdown_delay (the cleanup waits for it).
	caddyfile, _ := os.ReadFile(deployDir("systemd", "Caddyfile"))
	text := moved.Replace(string(caddyfile))
	text = strings.Replace(text, "shutdown_delay 15s", "shutdown_delay 1s", 1)
	ports := map[string]int{}
	for _, p := range []string{"8080", "8081", "9180"} {
		ports[p] = freePort(t)
		if !strings.Contains(text, "\n:"+p+" {") {
			t.Fatalf("the host Caddyfile has no site :%s", p)
		}
		text = strings.Replace(text, "\n:"+p+" {", fmt.Sprintf("\n:%d {", ports[p]), 1)
	}
	os.WriteFile(filepath.Join(dir, "Caddyfile"), []byte(text), 0o600)
	unit := readUnit(t, "widgetgate.service")
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "WIDGETGATE_VAULT_ADDR=" + v.addr}
	for _, e := range strings.Fields(unit.one(t, "Environment")) {
		env = append(env, moved.Replace(e))
	}
	run := strings.Fields(moved.Replace(unit.one(t, "ExecStart")))
	p := start(t, env, run[0], run[1:]...)
	v.put(t, "widgetgate/context-keys", map[string]any{"current": strings.Repeat("h", 32)})
	base := fmt.Sprintf("http://127.0.0.1:%d", ports["8080"])
	waitFor(t, p, 30*time.Second, "readiness with the agent's token", func() (bool, string) {
		s, b := get(base + "/healthz/ready")
		return s == 200, b
	})

	// systemctl reload: the unit's ExecReload, through the admin socket.
	reload := strings.Fields(moved.Replace(unit.one(t, "ExecReload")))
	cmd := exec.Command(reload[0], reload[1:]...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ExecReload: %v\n%s", err, out)
	}
	if s, b := get(base + "/healthz/ready"); s != 200 {
		t.Errorf("readiness after the reload: %d %s", s, b)
	}
	if fi, err := os.Stat(filepath.Join(runDir, "admin.sock")); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("the admin socket: %v", err)
	}
	if !strings.Contains(p.Output(), `"msg":"load complete"`) {
		t.Error("widgetgate's log shows no config load after ExecReload")
	}
	if os.Getenv("DEPLOYCHECK_LOG") != "" {
		t.Log(p.Output())
	}
}
