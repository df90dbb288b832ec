package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
	"github.com/widgetgate/widgetgate/callerctx"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "mint-context",
		Usage: "--widget <id> --instance <id> [--user <id>] [--ttl 15m] [--audience widgetgate] [--key-file <pem or secret file>]",
		Short: "Mints a signed caller context (for tests and demos)",
		Long: `Mints the short-lived JWT a widget host sends in X-Widget-Context.

With --key-file, the file holds a PEM private key (Ed25519 or P-256, for
EdDSA or ES256) or a raw HS256 secret. Without it, the HS256 "current"
secret is read from Vault (<mount>/<prefix>/context-keys), using VAULT_ADDR
and VAULT_TOKEN.`,
		CobraFunc: func(cmd *cobra.Command) {
			f := cmd.Flags()
			f.String("widget", "", "widget id the token is for (required)")
			f.String("instance", "", "widget instance id (required)")
			f.String("user", "", "user id ({user.id})")
			f.Duration("ttl", 15*time.Minute, "lifetime, at most 1h")
			f.String("audience", "widgetgate", "audience (the handler's context_audience)")
			f.String("key-file", "", "PEM private key or HS256 secret file; default: the secret in Vault")
			f.String("mount", "secret", "Vault KV v2 mount")
			f.String("prefix", "widgetgate", "path prefix in the mount")
			cmd.RunE = caddycmd.WrapCommandFuncForCobra(mintContext)
		},
	})
}

func mintContext(fl caddycmd.Flags) (int, error) {
	widget, instance := fl.String("widget"), fl.String("instance")
	if widget == "" || instance == "" {
		return 1, errors.New("--widget and --instance are required")
	}
	key, err := mintingKey(fl.String("key-file"), fl.String("mount"), fl.String("prefix"))
	if err != nil {
		return 1, err
	}
	tok, err := callerctx.Mint(key, callerctx.Context{Widget: widget, Instance: instance, User: fl.String("user")},
		fl.String("audience"), fl.Duration("ttl"), time.Now())
	if err != nil {
		return 1, err
	}
	fmt.Println(tok)
	return 0, nil
}

func mintingKey(file, mount, prefix string) (any, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		if k, err := callerctx.ParsePrivateKey(data); err == nil {
			return k, nil
		}
		return []byte(strings.TrimRight(string(data), "\r\n")), nil
	}
	store, err := vaultstore.New(vaultstore.Config{Mount: mount, Prefix: prefix})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys, err := store.ContextKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the context key from Vault: %w", err)
	}
	return keys[0], nil
}
