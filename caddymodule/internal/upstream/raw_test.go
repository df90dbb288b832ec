package upstream

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestStreamCutsAStalledBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "s=1")
		w.Write([]byte("first part"))
		w.(http.Flusher).Flush()
		<-r.Context().Done() // then stall until the client gives up
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := testClient(t)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	done := make(chan error, 1)
	go func() { done <- Stream(rec, resp, "tok", 50*time.Millisecond, cancel) }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a stalled stream ended without an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stream did not give up on a stalled body")
	}
	if rec.Body.String() != "first part" || rec.Header().Get("Set-Cookie") != "" || rec.Header().Get("Content-Security-Policy") != "sandbox" {
		t.Errorf("streamed %q with headers %v", rec.Body, rec.Header())
	}
}
