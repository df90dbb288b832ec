package deploycheck

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// devVault is a Vault dev server for one test, reached with its root token.
type devVault struct {
	addr   string
	root   *vault.Client
	bin    string
	home   string
	logged *process
}

func startVault(t *testing.T) *devVault {
	t.Helper()
	bin := vaultBin(t)
	port := freePort(t)
	home := t.TempDir()
	addr := fmt.Sprintf("http://127.0.0.1:%d", port)
	p := start(t, []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}, bin, "server", "-dev",
		"-dev-root-token-id=root", fmt.Sprintf("-dev-listen-address=127.0.0.1:%d", port), "-dev-no-store-token")
	cfg := vault.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	root, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	root.SetToken("root")
	waitFor(t, p, 20*time.Second, "Vault dev server", func() (bool, string) {
		h, err := root.Sys().Health()
		if err != nil {
			return false, err.Error()
		}
		return h.Initialized && !h.Sealed, "sealed"
	})
	return &devVault{addr: addr, root: root, bin: bin, home: home, logged: p}
}

// client is a client of v with token.
func (v *devVault) client(t testing.TB, token string) *vault.Client {
	t.Helper()
	c, err := v.root.Clone()
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	return c
}

// put writes a KV v2 secret as the security team would (root).
func (v *devVault) put(t testing.TB, path string, data map[string]any) {
	t.Helper()
	if _, err := v.root.KVv2("secret").Put(context.Background(), path, data); err != nil {
		t.Fatalf("vault kv put %s: %v", path, err)
	}
}

// vaultCLI runs the vault command line against v with the root token.
func (v *devVault) cli(t testing.TB, env []string, script string, args ...string) string {
	t.Helper()
	cmd := exec.Command(script, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + v.home, "VAULT_ADDR=" + v.addr, "VAULT_TOKEN=root", "VAULT=" + v.bin}, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", script, args, err, out)
	}
	return string(out)
}

// kubeAPI is a stand-in for the Kubernetes API server's TokenReview, the
// one call Vault's Kubernetes auth method makes: it knows a few service
// account tokens and answers for them as the API server would.
type kubeAPI struct {
	*httptest.Server
	mu       sync.Mutex
	accounts map[string]serviceAccount // token -> who it belongs to
	reviews  int
}

type serviceAccount struct {
	namespace, name, uid string
	audiences            []string
}

func startKubeAPI(t *testing.T) *kubeAPI {
	k := &kubeAPI{accounts: map[string]serviceAccount{}}
	k.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		var review struct {
			Spec struct {
				Token     string   `json:"token"`
				Audiences []string `json:"audiences"`
			} `json:"spec"`
		}
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		k.mu.Lock()
		k.reviews++
		sa, ok := k.accounts[review.Spec.Token]
		k.mu.Unlock()
		status := map[string]any{"authenticated": false}
		// As the API server: a token is valid for the audiences it was
		// issued for; a review asking for others is unauthenticated.
		if ok && (len(review.Spec.Audiences) == 0 || intersects(review.Spec.Audiences, sa.audiences)) {
			status = map[string]any{
				"authenticated": true,
				"user": map[string]any{
					"username": "system:serviceaccount:" + sa.namespace + ":" + sa.name,
					"uid":      sa.uid,
					"groups":   []string{"system:serviceaccounts", "system:serviceaccounts:" + sa.namespace, "system:authenticated"},
				},
				"audiences": sa.audiences,
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status})
	}))
	t.Cleanup(k.Close)
	return k
}

func intersects(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

// token issues a service account token (a JWT shaped like a projected
// one; the stand-in API is what vouches for it, as for Vault).
func (k *kubeAPI) token(namespace, name string, audiences ...string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	uid := fmt.Sprintf("uid-%d", len(k.accounts)+1)
	now := time.Now()
	claims := map[string]any{
		"iss": "https://kubernetes.default.svc.cluster.local", "sub": "system:serviceaccount:" + namespace + ":" + name,
		"aud": audiences, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"kubernetes.io": map[string]any{"namespace": namespace, "serviceaccount": map[string]any{"name": name, "uid": uid}},
	}
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	jwt := enc(map[string]any{"alg": "RS256", "typ": "JWT", "kid": "stand-in"}) + "." + enc(claims) + "." + base64.RawURLEncoding.EncodeToString([]byte(uid+"-signature"))
	k.accounts[jwt] = serviceAccount{namespace: namespace, name: name, uid: uid, audiences: audiences}
	return jwt
}

// selfSignedCA writes a throwaway CA certificate (PEM) to dir.
func selfSignedCA(t testing.TB, dir, name string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "deploycheck CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// vaultSide is a Vault dev server set up by deploy/vault/setup.sh,
// with the stand-in Kubernetes API behind its Kubernetes auth method.
func vaultSide(t *testing.T) (*devVault, *kubeAPI) {
	t.Helper()
	v := startVault(t)
	k := startKubeAPI(t)
	dir := t.TempDir()
	reviewer := filepath.Join(dir, "reviewer.jwt")
	os.WriteFile(reviewer, []byte(k.token("vault", "vault", "https://kubernetes.default.svc")), 0o600)
	env := []string{"K8S_HOST=" + k.URL, "K8S_CA_CERT=" + selfSignedCA(t, dir, "k8s-ca.crt"), "K8S_TOKEN_REVIEWER_JWT_FILE=" + reviewer}
	setup := deployDir("vault", "setup.sh")
	v.cli(t, env, setup, "kubernetes")
	// Run again: the security team will, and it must not fail or change
	// anything.
	v.cli(t, env, setup, "kubernetes")
	return v, k
}

func TestVaultSetupScript(t *testing.T) {
	t.Parallel()
	v, _ := vaultSide(t)
	want := setupDefaults(t)
	role, err := v.root.Logical().Read("auth/kubernetes/role/" + want["ROLE"])
	if err != nil || role == nil {
		t.Fatalf("reading the role: %v", err)
	}
	check := func(field string, wantVals ...string) {
		var got []string
		switch x := role.Data[field].(type) {
		case []any:
			for _, e := range x {
				got = append(got, fmt.Sprint(e))
			}
		default:
			got = []string{fmt.Sprint(x)}
		}
		if strings.Join(got, ",") != strings.Join(wantVals, ",") {
			t.Errorf("role %s = %v, want %v", field, got, wantVals)
		}
	}
	check("bound_service_account_names", want["SERVICE_ACCOUNT"])
	check("bound_service_account_namespaces", want["NAMESPACE"])
	check("audience", want["AUDIENCE"])
	check("token_policies", "widgetgate")
	mounts, err := v.root.Sys().ListMounts()
	if err != nil {
		t.Fatal(err)
	}
	if m := mounts[want["KV_MOUNT"]+"/"]; m == nil || m.Type != "kv" || m.Options["version"] != "2" {
		t.Errorf("mount %s/ is %+v, want KV version 2", want["KV_MOUNT"], m)
	}
	pol, err := v.root.Sys().GetPolicy("widgetgate")
	if err != nil {
		t.Fatal(err)
	}
	file, _ := os.ReadFile(deployDir("vault", "widgetgate.hcl"))
	if strings.TrimSpace(pol) != strings.TrimSpace(string(file)) {
		t.Error("the policy in Vault is not widgetgate.hcl")
	}
}

// TestVaultLogin logs in as widgetgate's pod would, and as pods that must
// not get in.
func TestVaultLogin(t *testing.T) {
	t.Parallel()
	v, k := vaultSide(t)
	login := func(jwt string) (*vault.Secret, error) {
		return v.client(t, "").Logical().Write("auth/kubernetes/login", map[string]any{"role": "widgetgate", "jwt": jwt})
	}
	sec, err := login(k.token("widgetgate", "widgetgate", "vault"))
	if err != nil {
		t.Fatalf("widgetgate's login: %v", err)
	}
	if sec.Auth == nil || !contains(sec.Auth.Policies, "widgetgate") || sec.Auth.LeaseDuration != 3600 || !sec.Auth.Renewable {
		t.Errorf("login token: %+v, want policy widgetgate, 1h, renewable", sec.Auth)
	}
	for name, jwt := range map[string]string{
		"another service account": k.token("widgetgate", "default", "vault"),
		"another namespace":       k.token("default", "widgetgate", "vault"),
		"the pod's API token":     k.token("widgetgate", "widgetgate", "https://kubernetes.default.svc"),
		"a token nobody issued":   "e30.e30.e30",
	} {
		if _, err := login(jwt); err == nil {
			t.Errorf("%s: Vault let it log in as widgetgate", name)
		}
	}
}

func contains(s []string, x string) bool {
	for _, e := range s {
		if e == x {
			return true
		}
	}
	return false
}

// TestVaultPolicy checks widgetgate.hcl operation by operation, with a
// token that has only it (and Vault's default policy, as login tokens
// do): every operation caddymodule/internal/vaultstore makes, made with
// the same client calls, is allowed; the ones it never makes are refused.
func TestVaultPolicy(t *testing.T) {
	t.Parallel()
	v, _ := vaultSide(t)
	tok, err := v.root.Auth().Token().Create(&vault.TokenCreateRequest{Policies: []string{"widgetgate"}, TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	c := v.client(t, tok.Auth.ClientToken)
	kv := c.KVv2("secret")
	ctx := context.Background()
	// What the security team stores (root).
	v.put(t, "widgetgate/context-keys", map[string]any{"current": strings.Repeat("k", 32)})
	v.put(t, "widgetgate/admin", map[string]any{"token": strings.Repeat("a", 32)})
	v.put(t, "widgetgate/webhook", map[string]any{"signing_key": strings.Repeat("w", 16)})
	v.put(t, "widgetgate/providers/google", map[string]any{"client_id": "id", "client_secret": "s"})
	v.put(t, "other/secret", map[string]any{"x": "y"})

	p := "widgetgate/"
	cas := vault.WithCheckAndSet
	get := func(path string) func() error { return func() error { _, err := kv.Get(ctx, p+path); return err } }
	put := func(path string, opts ...vault.KVOption) func() error {
		return func() error { _, err := kv.Put(ctx, p+path, map[string]any{"f": "v"}, opts...); return err }
	}
	list := func(dir string) func() error {
		return func() error { _, err := c.Logical().ListWithContext(ctx, "secret/metadata/"+p+dir); return err }
	}
	del := func(path string) func() error { return func() error { return kv.DeleteMetadata(ctx, p+path) } }

	// In order: later steps need what earlier ones wrote.
	allowed := []struct {
		what string
		op   func() error
	}{
		{"create a passport (admin, CAS 0)", put("passports/lobby-google", cas(0))},
		{"read a passport", get("passports/lobby-google")},
		{"update a passport (refresh, CAS)", put("passports/lobby-google", cas(1))},
		{"list passports (refresher scan, admin)", list("passports")},
		{"write bindings (admin: create)", put("bindings/lobby-screen")},
		{"write bindings (admin: update)", put("bindings/lobby-screen")},
		{"read bindings", get("bindings/lobby-screen")},
		{"list instances with bindings", list("bindings")},
		{"write a configuration (create)", put("config/lobby-screen/clock")},
		{"write a configuration (update)", put("config/lobby-screen/clock")},
		{"read a configuration", get("config/lobby-screen/clock")},
		{"list instances with a configuration", list("config")},
		{"reset a configuration", del("config/lobby-screen/clock")},
		{"take a refresh lease (CAS 0)", put("leases/lobby-google", cas(0))},
		{"read a lease", get("leases/lobby-google")},
		{"renew a lease (CAS)", put("leases/lobby-google", cas(1))},
		{"start a connect flow (CAS 0)", put("oauth-states/s1", cas(0))},
		{"read a flow state", get("oauth-states/s1")},
		{"claim a flow state (CAS)", put("oauth-states/s1", cas(1))},
		{"delete a claimed flow state", del("oauth-states/s1")},
		{"read provider credentials", get("providers/google")},
		{"import a bundled client secret (CAS 0, new)", put("providers/custom:my-api", cas(0))},
		{"read the context keys", get("context-keys")},
		{"read the admin token", get("admin")},
		{"read the webhook key", get("webhook")},
		{"delete a passport (admin)", del("passports/lobby-google")},
		{"read a missing binding (readiness probe)", get("bindings/widgetgate-readiness-probe")},
	}
	for _, a := range allowed {
		if err := a.op(); err != nil && !errors.Is(err, vault.ErrSecretNotFound) {
			t.Errorf("%s: refused: %v", a.what, err)
		}
	}

	refused := []struct {
		what string
		op   func() error
	}{
		{"overwrite provider credentials (CAS 0 over an existing secret: Vault's 403, not CAS's 400)", put("providers/google", cas(0))},
		{"overwrite provider credentials without CAS", put("providers/google")},
		{"write the context keys", put("context-keys")},
		{"write the admin token", put("admin")},
		{"write the webhook key", put("webhook")},
		{"read outside the prefix", func() error { _, err := kv.Get(ctx, "other/secret"); return err }},
		{"list the prefix", list("")},
		{"list the mount", func() error { _, err := c.Logical().ListWithContext(ctx, "secret/metadata/"); return err }},
		{"list leases", list("leases")},
		{"list flow states", list("oauth-states")},
		{"list providers", list("providers")},
		{"delete bindings", del("bindings/lobby-screen")},
		{"delete a lease", del("leases/lobby-google")},
		{"delete provider credentials", del("providers/google")},
		{"delete the context keys", del("context-keys")},
		{"soft-delete a binding's latest version", func() error { return kv.Delete(ctx, p+"bindings/lobby-screen") }},
		{"destroy a binding's versions", func() error { return kv.Destroy(ctx, p+"bindings/lobby-screen", []int{1}) }},
		{"read a nested passport path", get("passports/a/b")},
		{"read a nested binding path", get("bindings/a/b")},
		{"read a configuration folder as a secret", get("config/lobby-screen")},
		{"read a passport's metadata", func() error { _, err := kv.GetMetadata(ctx, p+"passports/x"); return err }},
		{"read the mounts", func() error { _, err := c.Sys().ListMounts(); return err }},
		{"read the policies", func() error { _, err := c.Sys().ListPolicies(); return err }},
	}
	for _, r := range refused {
		err := r.op()
		var re *vault.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
			t.Errorf("%s: want 403 permission denied, got %v", r.what, err)
		}
	}
}

// clusterConfig is the pod's Caddyfile (adapted with the pod's
// environment) made to run here: loopback ports instead of the pod's,
// the Vault dev server (plain http) instead of vault.vault.svc, files the
// kubelet would provide written to dir. Nothing else changes.
func clusterConfig(t *testing.T, v *devVault, jwtFile, widgetsDir string) (cfg map[string]any, ports map[int]int) {
	t.Helper()
	o := decodeBuilt(t)
	cfg = o.podCaddyfile(t)
	ports = map[int]int{}
	for name, s := range serversOf(t, cfg) {
		ls, _ := s["listen"].([]any)
		if len(ls) != 1 {
			t.Fatalf("server %s listens on %v: one address expected", name, ls)
		}
		port, err := strconv.Atoi(strings.TrimPrefix(ls[0].(string), ":"))
		if err != nil {
			t.Fatalf("server %s listens on %v: want :<port>", name, ls[0])
		}
		ports[port] = freePort(t)
		s["listen"] = []any{fmt.Sprintf("127.0.0.1:%d", ports[port])}
	}
	wg := at(cfg, "apps", "widgetgate").(map[string]any)
	wg["widgets_dir"] = widgetsDir
	vc := wg["vault"].(map[string]any)
	if !strings.HasPrefix(str(vc, "address"), "https://") || str(vc, "ca_cert") == "" {
		t.Fatalf("the cluster's Vault settings changed (%v): update this test", vc)
	}
	vc["address"] = v.addr
	delete(vc, "ca_cert")
	vc["kubernetes"].(map[string]any)["token_file"] = jwtFile
	// The only other changes, to keep the test short: the context-key
	// watcher retries with a backoff capped at cache_ttl (30s), and
	// shutdown_delay (15s) is how long the drain check below waits.
	wg["cache_ttl"] = "2s"
	at(cfg, "apps", "http").(map[string]any)["shutdown_delay"] = "2s"
	return cfg, ports
}

// runWidgetgate runs bin/widgetgate with a JSON config.
func runWidgetgate(t *testing.T, cfg map[string]any) *process {
	t.Helper()
	dir := t.TempDir()
	file := writeJSON(t, dir, "config.json", cfg)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "config"), "XDG_DATA_HOME=" + filepath.Join(dir, "data")}
	return start(t, env, widgetgateBin(t), "run", "--config", file)
}

// TestClusterCaddyfileRuns runs the pod's Caddyfile with the Vault side as
// setup.sh makes it: widgetgate logs in with the Kubernetes role, its
// readiness turns 200 once the security team has stored the context keys,
// the admin API works through the policy, metrics and the catch-all answer.
func TestClusterCaddyfileRuns(t *testing.T) {
	t.Parallel()
	v, k := vaultSide(t)
	dir := t.TempDir()
	jwt := filepath.Join(dir, "token")
	os.WriteFile(jwt, []byte(k.token("widgetgate", "widgetgate", "vault")), 0o600)
	widgets := filepath.Join(dir, "widgets")
	os.Mkdir(widgets, 0o755)
	cfg, ports := clusterConfig(t, v, jwt, widgets)

	// widgetgate validate: the whole config provisions (admin handler,
	// health, metrics, the app) without Vault.
	vf := writeJSON(t, dir, "validate.json", cfg)
	if out, err := exec.Command(widgetgateBin(t), "validate", "--config", vf).CombinedOutput(); err != nil {
		t.Fatalf("widgetgate validate: %v\n%s", err, out)
	}

	p := runWidgetgate(t, cfg)
	base := func(pod int) string { return fmt.Sprintf("http://127.0.0.1:%d", ports[pod]) }
	waitFor(t, p, 15*time.Second, "liveness", func() (bool, string) {
		s, b := get(base(8080) + "/healthz/live")
		return s == 200, b
	})
	// Not ready until the context keys are in Vault: the check says which.
	waitFor(t, p, 15*time.Second, "readiness naming the missing context keys", func() (bool, string) {
		s, b := get(base(8080) + "/healthz/ready")
		return s == 503 && strings.Contains(b, `"name":"context_keys","status":"failed"`) && strings.Contains(b, `"name":"vault","status":"ok"`), b
	})
	v.put(t, "widgetgate/context-keys", map[string]any{"current": strings.Repeat("c", 32)})
	waitFor(t, p, 45*time.Second, "readiness", func() (bool, string) {
		s, b := get(base(8080) + "/healthz/ready")
		return s == 200, b
	})

	// The admin API, through the policy, as an administrator would use it.
	admin := strings.Repeat("t", 32)
	v.put(t, "widgetgate/admin", map[string]any{"token": admin})
	v.put(t, "widgetgate/providers/google", map[string]any{"client_id": "id.apps.example", "client_secret": "secret"})
	call := func(method, path, body string, want int) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, base(8081)+"/admin/api/"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+admin)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
		}
		var out map[string]any
		json.Unmarshal(b, &out)
		return out
	}
	call("GET", "providers", "", 200)
	created := call("POST", "passports", `{"provider":"google","displayName":"Lobby calendar"}`, 201)
	id, _ := created["id"].(string)
	if id == "" {
		t.Fatalf("created passport: %v", created)
	}
	call("GET", "passports", "", 200)
	if u := call("POST", "passports/"+id+"/connect", "", 200); !strings.Contains(fmt.Sprint(u["authorizeUrl"]), "state=") {
		t.Errorf("connect: %v", u)
	}
	call("PUT", "bindings/lobby-screen", `{"googleCalAuth":"`+id+`"}`, 200)
	call("GET", "bindings", "", 200)
	call("DELETE", "passports/"+id, "", 204)

	// Metrics, and the sidecar's catch-all.
	if s, b := get(base(9180) + "/metrics"); s != 200 || !strings.Contains(b, "widgetgate_cached_passports") {
		t.Errorf("metrics: %d, widgetgate's metrics missing", s)
	}
	if s, b := get(base(8080) + "/nothing/here"); s != 404 || !strings.Contains(b, `"code":"not_found"`) {
		t.Errorf("catch-all: %d %s", s, b)
	}
	if s, _ := get(base(8081) + "/admin"); s != 308 {
		t.Errorf("GET /admin on the admin site: %d, want the redirect to /admin/", s)
	}

	// Draining: on SIGTERM readiness fails at once, naming the shutdown,
	// while the listener still serves; then the process exits.
	p.cmd.Process.Signal(syscall.SIGTERM)
	waitFor(t, nil, 2*time.Second, "readiness 503 after SIGTERM", func() (bool, string) {
		s, b := get(base(8080) + "/healthz/ready")
		return s == 503 && strings.Contains(b, `"name":"shutdown","status":"failed"`), b
	})
	if s, _ := get(base(8080) + "/healthz/live"); s != 200 {
		t.Errorf("liveness during shutdown_delay: %d, want 200 (still serving)", s)
	}
	select {
	case <-p.waited:
	case <-time.After(10 * time.Second):
		t.Error("widgetgate did not exit within 10 s of SIGTERM (shutdown_delay 2s, nothing in flight)")
	}
	if os.Getenv("DEPLOYCHECK_LOG") != "" {
		t.Log(p.Output())
	}
	if strings.Contains(p.Output(), "permission denied") || strings.Contains(p.Output(), "HTTP 403") {
		t.Errorf("widgetgate met a 403 from Vault:\n%s", p.Output())
	}
}

// TestReadmePolicyIsTheFile: the policy deploy/kubernetes/README.md shows
// the security team is deploy/vault/widgetgate.hcl, rule for rule.
func TestReadmePolicyIsTheFile(t *testing.T) {
	readme, err := os.ReadFile(deployDir("kubernetes", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "```hcl\n")
	block, _, _ = strings.Cut(block, "```")
	if !ok {
		t.Fatal("README.md has no ```hcl block")
	}
	file, err := os.ReadFile(deployDir("vault", "widgetgate.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	rules := func(s string) string {
		var out []string
		for _, line := range strings.Split(s, "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	if rules(block) != rules(string(file)) {
		t.Errorf("README.md's policy differs from widgetgate.hcl:\nREADME:\n%s\nfile:\n%s", rules(block), rules(string(file)))
	}
}
