// Package contextkeys keeps the keys that verify signed caller contexts
// current: the HS256 secrets live in Vault and are re-read, so a host can
// rotate its key without a reload.
package contextkeys

import (
	"context"
	"crypto"
	"log/slog"
	"time"

	"github.com/widgetgate/widgetgate/callerctx"
)

// Source reads the HS256 secrets ("current" and, during a rotation,
// "previous"); vaultstore.Store.ContextKeys is one.
type Source func(ctx context.Context) ([][]byte, error)

// Watch loads the secrets from read into v, together with the public
// keys, and re-reads them every interval until ctx ends: a host rotates by
// writing the new secret as "current" and the old one as "previous".
// Until the first load succeeds v has only the public keys, and signed
// calls that need a secret get 503. Failures are retried sooner, with
// backoff up to every.
func Watch(ctx context.Context, read Source, v *callerctx.Verifier, public []crypto.PublicKey, every time.Duration, log *slog.Logger) {
	retry := time.Second
	for {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		secrets, err := read(rctx)
		cancel()
		wait := every
		if err != nil {
			log.Warn("could not load caller-context keys from Vault", "error", err)
			wait, retry = retry, min(2*retry, every)
		} else {
			v.SetKeys(callerctx.Keys{HMAC: secrets, Public: public})
			retry = time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
