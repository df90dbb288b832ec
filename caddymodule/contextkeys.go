package caddymodule

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/widgetgate/widgetgate/callerctx"
)

// watchContextKeys loads the HS256 caller-context secrets from Vault and
// re-reads them every cache_ttl, so a host can rotate its key (write the
// new one as "current", the old as "previous") without a reload. Until the
// first load succeeds, signed calls get 503.
func (a *App) watchContextKeys() {
	every := time.Duration(a.CacheTTL)
	if every <= 0 {
		every = 30 * time.Second
	}
	retry := time.Second
	for {
		ctx, cancel := context.WithTimeout(a.bg, 10*time.Second)
		secrets, err := a.store.ContextKeys(ctx)
		cancel()
		wait := every
		if err != nil {
			a.logger.Warn("could not load caller-context keys from Vault", zap.Error(err))
			wait, retry = retry, min(2*retry, every)
		} else {
			a.verifier.SetKeys(callerctx.Keys{HMAC: secrets, Public: a.publicKeys})
			retry = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-a.bg.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
