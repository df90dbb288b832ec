package provider

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// Literal secrets are stored, never logged; a failed store is logged and
// the others still go.
func TestImportSecrets(t *testing.T) {
	reg := map[string]*Provider{
		"google":       {Name: "google"},
		"custom:a":     {Name: "custom:a", ClientID: "id-a", ClientSecret: "secret-a", Source: "a/p.json"},
		"custom:b":     {Name: "custom:b", ClientID: "id-b", ClientSecret: "secret-b", Source: "b/p.json"},
		"custom:byref": {Name: "custom:byref", ClientSecretRef: "vault:widgetgate/providers/custom:byref#client_secret"},
	}
	put := map[string]string{}
	var log bytes.Buffer
	ImportSecrets(context.Background(), reg, func(_ context.Context, name, id, secret string) (bool, error) {
		if name == "custom:b" {
			return false, errors.New("vault down")
		}
		put[name] = id + "/" + secret
		return true, nil
	}, slog.New(slog.NewTextHandler(&log, nil)))
	if len(put) != 1 || put["custom:a"] != "id-a/secret-a" {
		t.Errorf("stored %v, want only custom:a", put)
	}
	out := log.String()
	if strings.Contains(out, "secret-a") || strings.Contains(out, "secret-b") {
		t.Errorf("a client secret reached the log:\n%s", out)
	}
	if !strings.Contains(out, "imported the bundled client secret") || !strings.Contains(out, "could not import") {
		t.Errorf("log lacks the import outcome:\n%s", out)
	}
}
