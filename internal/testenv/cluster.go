package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// VaultCluster is a Vault cluster as security teams run it: n server
// processes with integrated storage (Raft) joined with retry_join,
// initialised with one unseal key share, KV v2 at secret/, behind a Caddy
// reverse proxy (our own binary) that health-checks every node on
// /v1/sys/health?standbyok=true. Addr is the proxy: what widgetgate is
// given. Standbys forward requests to the active node over the cluster
// port.
//
// The listeners are plain HTTP on loopback (tls_disable): TLS on the API
// listener adds a CA to every client and to the proxy but changes nothing
// the tests look at, and widgetgate's TLS options to Vault are tested on
// their own. The cluster port (Raft and request forwarding) is always
// mutual TLS, with certificates Vault makes itself.
type VaultCluster struct {
	Addr   string // the load balancer, http://127.0.0.1:port
	Token  string // root token
	Client *vault.Client
	Nodes  []*VaultNode
	// UnsealKey is the single key share.
	UnsealKey string
	lb        *Widgetgate
}

// VaultNode is one server of a VaultCluster.
type VaultNode struct {
	Name   string
	Addr   string // its API address, http://127.0.0.1:port
	Client *vault.Client
	bin    string
	dir    string // config, data and vault.log
	cmd    *exec.Cmd
	done   chan struct{}
}

// StartVaultCluster starts an n-node cluster and its load balancer, and
// returns once every node is unsealed and a voter, and KV v2 is mounted.
func StartVaultCluster(t testing.TB, n int) *VaultCluster {
	t.Helper()
	bin, err := VaultBinary()
	if err != nil {
		t.Fatal(err)
	}
	c := &VaultCluster{}
	apiAddrs := make([]string, n)
	clusterAddrs := make([]string, n)
	for i := range n {
		apiAddrs[i], clusterAddrs[i] = FreeAddr(t), FreeAddr(t)
	}
	for i := range n {
		node := &VaultNode{Name: fmt.Sprintf("vault-%d", i), Addr: "http://" + apiAddrs[i], bin: bin, dir: t.TempDir()}
		var join strings.Builder
		for j := range n {
			if j != i {
				fmt.Fprintf(&join, "  retry_join {\n    leader_api_addr = %q\n  }\n", "http://"+apiAddrs[j])
			}
		}
		config := fmt.Sprintf(`storage "raft" {
  path    = %q
  node_id = %q
  # Production-grade timings (the default, 5, is for slow hardware):
  # elections take about a second, not five.
  performance_multiplier = 1
%s}
listener "tcp" {
  address         = %q
  cluster_address = %q
  tls_disable     = true
}
api_addr      = %q
cluster_addr  = %q
disable_mlock = true
ui            = false
`, filepath.Join(node.dir, "data"), node.Name, join.String(), apiAddrs[i], clusterAddrs[i], "http://"+apiAddrs[i], "https://"+clusterAddrs[i])
		if err := os.MkdirAll(filepath.Join(node.dir, "data"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(node.dir, "vault.hcl"), []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		node.Client = newVaultClient(t, node.Addr)
		c.Nodes = append(c.Nodes, node)
		t.Cleanup(node.Stop)
		node.start(t)
	}

	// Initialise the first node; the others join it once unsealed.
	var init *vault.InitResponse
	WaitFor(t, 30*time.Second, "vault-0 to accept init", func() error {
		init, err = c.Nodes[0].Client.Sys().Init(&vault.InitRequest{SecretShares: 1, SecretThreshold: 1})
		return err
	})
	c.UnsealKey, c.Token = init.KeysB64[0], init.RootToken
	for _, node := range c.Nodes {
		node.Client.SetToken(c.Token)
	}
	c.Unseal(t, c.Nodes[0])
	for _, node := range c.Nodes[1:] {
		c.Unseal(t, node)
	}
	WaitFor(t, 60*time.Second, "every node to be a voter", func() error {
		sec, err := c.Nodes[0].Client.Logical().Read("sys/storage/raft/configuration")
		if err != nil {
			return err
		}
		servers, _ := sec.Data["config"].(map[string]any)["servers"].([]any)
		voters := 0
		for _, s := range servers {
			if v, _ := s.(map[string]any)["voter"].(bool); v {
				voters++
			}
		}
		if voters != n {
			return fmt.Errorf("%d of %d nodes are voters", voters, n)
		}
		return nil
	})
	if err := c.Nodes[0].Client.Sys().Mount("secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatalf("mounting KV v2: %v", err)
	}

	c.lb = StartWidgetgate(t, `{
	admin off
	auto_https off
}
http://{addr} {
	reverse_proxy `+strings.Join(apiAddrs, " ")+` {
		lb_policy round_robin
		# A request a dead node refused is tried on another, for up to 5 s.
		lb_try_duration 5s
		lb_try_interval 100ms
		health_uri /v1/sys/health?standbyok=true
		health_interval 250ms
		health_timeout 1s
		fail_duration 2s
	}
}
`)
	c.Addr = c.lb.URL
	c.Client = newVaultClient(t, c.Addr)
	c.Client.SetToken(c.Token)
	c.WaitWritable(t)
	return c
}

// WaitWritable waits until a write through the load balancer succeeds:
// there is an active node and the proxy reaches it.
func (c *VaultCluster) WaitWritable(t testing.TB) {
	t.Helper()
	WaitFor(t, 60*time.Second, "a write through the load balancer", func() error {
		_, err := c.Client.KVv2("secret").Put(context.Background(), "widgetgate/_ready", map[string]any{"ok": "1"})
		return err
	})
}

func newVaultClient(t testing.TB, addr string) *vault.Client {
	t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	cfg.Timeout = 10 * time.Second
	client, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client.ClearToken()
	return client
}

// Unseal unseals node with the cluster's key, waiting until it is.
func (c *VaultCluster) Unseal(t testing.TB, node *VaultNode) {
	t.Helper()
	WaitFor(t, 60*time.Second, node.Name+" to unseal", func() error {
		node.checkRunning(t)
		st, err := node.Client.Sys().SealStatus()
		if err != nil {
			return err
		}
		if !st.Sealed {
			return nil
		}
		st, err = node.Client.Sys().Unseal(c.UnsealKey)
		if err != nil {
			return err
		}
		if st.Sealed {
			return errors.New("still sealed (joining)")
		}
		return nil
	})
}

// Leader returns the active node, waiting until there is one that every
// running node agrees on.
func (c *VaultCluster) Leader(t testing.TB) *VaultNode {
	t.Helper()
	var leader *VaultNode
	WaitFor(t, 60*time.Second, "an active Vault node", func() error {
		leader = nil
		for _, node := range c.Nodes {
			if !node.Running() {
				continue
			}
			l, err := node.Client.Sys().Leader()
			if err != nil {
				return fmt.Errorf("%s: %w", node.Name, err)
			}
			if l.IsSelf {
				leader = node
			}
			if l.LeaderAddress == "" {
				return fmt.Errorf("%s knows no leader", node.Name)
			}
		}
		if leader == nil {
			return errors.New("no node is active")
		}
		return nil
	})
	return leader
}

// start runs the node's server process.
func (n *VaultNode) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(n.bin, "server", "-config", filepath.Join(n.dir, "vault.hcl"))
	cmd.Env = append(os.Environ(), "HOME="+n.dir, "VAULT_ADDR=", "VAULT_TOKEN=")
	logFile, err := os.OpenFile(filepath.Join(n.dir, "vault.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("starting %s: %v", n.Name, err)
	}
	done := make(chan struct{})
	n.cmd, n.done = cmd, done
	go func() { cmd.Wait(); logFile.Close(); close(done) }()
}

// checkRunning fails t with the node's log if its process exited.
func (n *VaultNode) checkRunning(t testing.TB) {
	t.Helper()
	if !n.Running() {
		log, _ := os.ReadFile(filepath.Join(n.dir, "vault.log"))
		t.Fatalf("%s exited:\n%s", n.Name, log)
	}
}

// Running reports whether the node's process runs.
func (n *VaultNode) Running() bool {
	if n.done == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// Kill kills the node's process (SIGKILL: no step-down, no flush) and
// waits for it to be gone.
func (n *VaultNode) Kill(t testing.TB) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("killing %s: %v", n.Name, err)
	}
	<-n.done
}

// Stop stops the node (SIGINT: a graceful shutdown, stepping down if it
// is active) and waits for it.
func (n *VaultNode) Stop() {
	if n.cmd != nil {
		stop(n.cmd, n.done)
	}
}

// Restart starts a stopped or killed node again with its data, and
// unseals it; it rejoins the cluster as the member it was. It returns once
// the cluster takes writes again (a rejoining node can cost an election).
func (c *VaultCluster) Restart(t testing.TB, n *VaultNode) {
	t.Helper()
	if n.Running() {
		t.Fatalf("testenv: restarting %s while it runs", n.Name)
	}
	n.start(t)
	c.Unseal(t, n)
	c.Leader(t)
	c.WaitWritable(t)
}

// Log returns the node's log.
func (n *VaultNode) Log() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "vault.log"))
	return string(b)
}
