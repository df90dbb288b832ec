package contextkeys

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/callerctx"
)

// Watch loads the secrets, retries after a failure and stops with its
// context. The source answers through channels, so the test knows each
// read happened.
func TestWatch(t *testing.T) {
	answers := make(chan error)
	reads := make(chan struct{})
	read := func(context.Context) ([][]byte, error) {
		reads <- struct{}{}
		if err := <-answers; err != nil {
			return nil, err
		}
		return [][]byte{[]byte("0123456789abcdef0123456789abcdef")}, nil
	}
	v := callerctx.NewVerifier(nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		Watch(ctx, read, v, nil, time.Millisecond, slog.New(slog.DiscardHandler))
		close(done)
	}()
	<-reads
	answers <- errors.New("vault down")
	<-reads // retried
	if v.HasKeys() {
		t.Fatal("keys set after a failed read")
	}
	answers <- nil
	<-reads // the next periodic read: the previous one has been applied
	if !v.HasKeys() {
		t.Fatal("keys not set after a good read")
	}
	cancel()
	answers <- nil
	<-done
}
