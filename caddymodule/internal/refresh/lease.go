package refresh

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/vaultstore"
)

// heldLease is a lease this replica holds: renewed in the background until
// released, so a slow token endpoint never lets it expire under us.
type heldLease struct {
	r     *Refresher
	id    string
	mu    sync.Mutex
	lease vaultstore.Lease
	stop  chan struct{}
	done  chan struct{}
	// handedOff: the write-back of tokens Vault did not take holds the
	// lease now, and releases it (set before holdAndRedeem returns).
	handedOff bool
}

func (r *Refresher) hold(ctx context.Context, id string, lease vaultstore.Lease) *heldLease {
	h := &heldLease{r: r, id: id, lease: lease, stop: make(chan struct{}), done: make(chan struct{})}
	go h.renew(ctx)
	return h
}

func (h *heldLease) renew(ctx context.Context) {
	defer close(h.done)
	t := time.NewTicker(h.r.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.mu.Lock()
		next, err := h.r.store.PutLease(ctx, h.id, h.lease, h.r.cfg.Holder, h.r.cfg.Now().Add(h.r.cfg.LeaseTTL))
		if err == nil {
			h.lease = next
		}
		h.mu.Unlock()
		if errors.Is(err, vaultstore.ErrConflict) {
			// Someone took the lease after it expired: we were too slow.
			// Our redemption may still land (the passport write is
			// check-and-set); stop renewing what is not ours.
			h.r.cfg.Logger.Warn("lost the refresh lease while refreshing", "passport", h.id)
			return
		}
	}
}

// release stops renewal and gives the lease back, so waiting replicas go on
// at once instead of waiting for it to expire.
func (h *heldLease) release() {
	close(h.stop)
	<-h.done
	h.mu.Lock()
	defer h.mu.Unlock()
	ctx, cancel := context.WithTimeout(h.r.detached, h.r.cfg.TokenTimeout)
	defer cancel()
	if _, err := h.r.store.PutLease(ctx, h.id, h.lease, "", time.Time{}); err != nil && !errors.Is(err, vaultstore.ErrConflict) {
		h.r.cfg.Logger.Warn("could not release the refresh lease; it expires by itself", "passport", h.id, "error", err)
	}
}
