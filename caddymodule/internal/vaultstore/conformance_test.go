package vaultstore_test

import (
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/storetest"
	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
	"github.com/widgetgate/widgetgate/internal/testenv"
)

// TestConformance runs the store suite against a real Vault dev server,
// the same table memstore passes.
func TestConformance(t *testing.T) {
	v := testenv.StartVault(t)
	storetest.Run(t, func(t *testing.T, prefix string) storetest.Store {
		s, err := vaultstore.New(vaultstore.Config{Address: v.Addr, Auth: vaultstore.AuthConfig{Token: v.Token}, Prefix: prefix, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

var _ storetest.Store = (*vaultstore.Store)(nil)
