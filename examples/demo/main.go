// Command demo runs widgetgate end to end on this machine: a Vault dev
// server, the stand-in provider (in place of Google, unreachable here) and
// widgetgate configured by Caddyfile.example. It stores a demo passport and
// binding with `vault kv put` (the README's commands, with the demo token
// inline instead of read from a file), makes a widget call and prints the envelope, then keeps everything
// running until Ctrl-C so you can make your own calls.
//
// Run it with `make demo` from the repository root.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/widgetgate/widgetgate/callerctx"
	"github.com/widgetgate/widgetgate/examples/host"
	"github.com/widgetgate/widgetgate/internal/testenv/standin"
)

const (
	vaultAddr    = "127.0.0.1:8200"
	vaultToken   = "demo-root-token" // a dev server's root token: for this demo only
	providerAddr = "127.0.0.1:8931"  // where examples/widgets point
	hostAddr     = "127.0.0.1:8090"  // the signage host page; in Caddyfile.example's allowed_origins
	gatewayURL   = "http://127.0.0.1:8080"
	accessToken  = "demo-access-token"
)

func main() {
	widgetgate := flag.String("widgetgate", "bin/widgetgate", "path of the widgetgate binary")
	once := flag.Bool("once", false, "exit after the first call (for CI)")
	flag.Parse()
	log.SetFlags(0)
	if err := run(*widgetgate, *once); err != nil {
		log.Fatalf("demo: %v", err)
	}
}

func run(widgetgate string, once bool) error {
	vaultBin := os.Getenv("VAULT_BIN")
	if vaultBin == "" {
		vaultBin = "vault"
	}
	var procs []*exec.Cmd
	defer func() {
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].Process.Signal(os.Interrupt)
			procs[i].Wait()
		}
	}()

	for _, addr := range []string{vaultAddr, providerAddr, hostAddr, "127.0.0.1:8080", "127.0.0.1:2019"} {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return fmt.Errorf("%s is already in use: is another demo running?", addr)
		}
	}

	step("starting a Vault dev server on " + vaultAddr)
	home, err := os.MkdirTemp("", "widgetgate-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(home)
	vault := exec.Command(vaultBin, "server", "-dev", "-dev-listen-address="+vaultAddr, "-dev-root-token-id="+vaultToken)
	vault.Env = append(os.Environ(), "HOME="+home)
	if err := start(vault, &procs); err != nil {
		return fmt.Errorf("starting vault (%s): %w", vaultBin, err)
	}
	vaultCmd := func(args ...string) *exec.Cmd {
		cmd := exec.Command(vaultBin, args...)
		cmd.Env = append(os.Environ(), "VAULT_ADDR=http://"+vaultAddr, "VAULT_TOKEN="+vaultToken, "HOME="+home)
		return cmd
	}
	// The dev server mounts KV v2 at secret/ just after it unseals.
	if err := waitFor(30*time.Second, func() error {
		return vaultCmd("kv", "metadata", "put", "-mount=secret", "widgetgate/_ready").Run()
	}); err != nil {
		return fmt.Errorf("vault did not come up: %w", err)
	}

	step("starting the stand-in provider on " + providerAddr + " (it answers like Google Calendar)")
	provider := standin.New()
	provider.AddToken(accessToken)
	ln, err := net.Listen("tcp", providerAddr)
	if err != nil {
		return err
	}
	go http.Serve(ln, provider)

	step("storing a passport and a binding in Vault, as a security team would")
	expiry := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	contextKey := randomHex(32) // the secret the host's server signs caller contexts with
	for _, args := range [][]string{
		{"kv", "put", "-mount=secret", "widgetgate/context-keys", "current=" + contextKey},
		{"kv", "put", "-mount=secret", "widgetgate/passports/demo-google",
			"provider=google", "status=active", "access_token=" + accessToken, "token_type=Bearer", "expiry=" + expiry},
		{"kv", "put", "-mount=secret", "widgetgate/passports/demo-saas",
			"provider=custom:my-api-connector", "status=active", "access_token=" + accessToken, "token_type=Bearer", "expiry=" + expiry},
		{"kv", "put", "-mount=secret", "widgetgate/passports/demo-ms",
			"provider=microsoft", "status=active", "access_token=" + accessToken, "token_type=Bearer", "expiry=" + expiry},
		{"kv", "put", "-mount=secret", "widgetgate/bindings/lobby-screen",
			"googleCalAuth=demo-google", "myApiAuth=demo-saas", "msGraph=demo-ms"},
	} {
		shown := strings.NewReplacer(accessToken, "<access token>", contextKey, "<context secret>").Replace(strings.Join(args, " "))
		fmt.Printf("  $ vault %s\n", shown)
		if out, err := vaultCmd(args...).CombinedOutput(); err != nil {
			return fmt.Errorf("vault %s: %v\n%s", args[2], err, out)
		}
	}

	step("starting widgetgate with Caddyfile.example")
	gw := exec.Command(widgetgate, "run", "--config", "Caddyfile.example", "--adapter", "caddyfile")
	gw.Env = append(os.Environ(), "VAULT_TOKEN="+vaultToken)
	logFile, err := os.Create(home + "/widgetgate.log")
	if err != nil {
		return err
	}
	gw.Stdout, gw.Stderr = logFile, logFile
	if err := start(gw, &procs); err != nil {
		return err
	}
	if err := waitFor(30*time.Second, func() error {
		resp, err := http.Get(gatewayURL + "/sidecar/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}); err != nil {
		log, _ := os.ReadFile(logFile.Name())
		return fmt.Errorf("widgetgate did not come up: %w\n%s", err, log)
	}

	step("calling the calendar widget's getCalendarEvents by name, as the host would")
	const body = `{"params": {"maxResults": "3", "orderBy": "startTime", "singleEvents": "true"}}`
	fmt.Printf("  $ export VAULT_ADDR=http://%s VAULT_TOKEN=%s\n", vaultAddr, vaultToken)
	fmt.Printf("  $ curl -s -X POST %s/sidecar/widgets/calendar/apis/getCalendarEvents \\\n", gatewayURL)
	fmt.Printf("      -H \"X-Widget-Context: $(%s mint-context --widget calendar --instance lobby-screen)\" \\\n", widgetgate)
	fmt.Printf("      -d '%s'\n\n", body)
	token, err := callerctx.Mint([]byte(contextKey), callerctx.Context{Instance: "lobby-screen", Widget: "calendar", User: "demo-user"},
		"widgetgate", 15*time.Minute, time.Now())
	if err != nil {
		return err
	}
	var resp *http.Response
	var raw []byte
	// widgetgate loads the context secret from Vault just after it starts.
	if err := waitFor(10*time.Second, func() error {
		req, _ := http.NewRequest("POST", gatewayURL+"/sidecar/widgets/calendar/apis/getCalendarEvents", strings.NewReader(body))
		req.Header.Set("X-Widget-Context", token)
		if resp, err = http.DefaultClient.Do(req); err != nil {
			return err
		}
		raw, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			return errors.New(string(raw))
		}
		return nil
	}); err != nil {
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, raw, "  ", "  ") != nil {
		pretty.Write(raw)
	}
	fmt.Printf("  HTTP %d\n  %s\n", resp.StatusCode, pretty.String())
	var env struct {
		IsSuccess bool `json:"isSuccess"`
	}
	if err := json.Unmarshal(raw, &env); resp.StatusCode != 200 || err != nil || !env.IsSuccess {
		return errors.New("the demo call did not succeed; see the output above")
	}
	if bytes.Contains(raw, []byte(accessToken)) {
		return errors.New("the envelope contains the access token")
	}
	step("serving the signage host page on http://" + hostAddr)
	hostLn, err := net.Listen("tcp", hostAddr)
	if err != nil {
		return err
	}
	go http.Serve(hostLn, host.Handler(host.Config{
		SidecarURL: gatewayURL + "/sidecar", Key: []byte(contextKey), Audience: "widgetgate",
		Widgets: []host.Mount{
			{Widget: "calendar", Instance: "lobby-screen", User: "demo-user", Title: "Today (Google Calendar)"},
			{Widget: "my-saas", Instance: "lobby-screen", User: "demo-user", Title: "My SaaS (bundled passport)"},
			{Widget: "graph-calendar", Instance: "lobby-screen", User: "demo-user", Title: "This week (Microsoft 365)"},
		},
	}))
	fmt.Printf("  open http://%s in a browser: the widgets fetch their data through widgetgate\n", hostAddr)
	if once {
		resp, err := http.Get("http://" + hostAddr + "/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("host page: HTTP %d", resp.StatusCode)
		}
		return nil
	}

	step("all running. Try other calls (Ctrl-C stops everything):")
	fmt.Printf("  export VAULT_ADDR=http://%s VAULT_TOKEN=%s\n", vaultAddr, vaultToken)
	fmt.Printf("  curl -s -X POST %s/sidecar/widgets/my-saas/apis/getUserPosts -H \"X-Widget-Context: $(%s mint-context --widget my-saas --instance lobby-screen)\" -d '{\"params\": {\"userId\": \"42\", \"page\": \"2\"}}'\n", gatewayURL, widgetgate)
	fmt.Printf("  curl -s '%s/sidecar/widgets/calendar/apis/getCalendarEvents/raw?maxResults=1' -H \"X-Widget-Context: $(%s mint-context --widget calendar --instance lobby-screen)\"\n", gatewayURL, widgetgate)
	fmt.Printf("  widgetgate log: %s\n", logFile.Name())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	fmt.Println("\nstopping")
	return nil
}

func step(msg string) { fmt.Printf("\n==> %s\n", msg) }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func start(cmd *exec.Cmd, procs *[]*exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	*procs = append(*procs, cmd)
	return nil
}

// waitFor polls check until it succeeds or timeout passes.
func waitFor(timeout time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}
