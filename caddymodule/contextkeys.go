package caddymodule

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
	"github.com/widgetgate/widgetgate/callerctx"
)

// watchContextKeys loads the HS256 caller-context secrets from Vault and
// re-reads them every cache_ttl, so a host can rotate its key (write the
// new one as "current", the old as "previous") without a reload. Until the
// first load succeeds, signed calls get 503.
func (s *state) watchContextKeys(every time.Duration) {
	if every <= 0 {
		every = passport.DefaultTTL // as often as the cache re-reads
	}
	retry := time.Second
	for {
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		secrets, err := s.store.ContextKeys(ctx)
		cancel()
		wait := every
		if err != nil {
			s.logger.Warn("could not load caller-context keys from Vault", zap.Error(err))
			wait, retry = retry, min(2*retry, every)
		} else {
			s.verifier.SetKeys(callerctx.Keys{HMAC: secrets, Public: s.publicKeys})
			retry = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
