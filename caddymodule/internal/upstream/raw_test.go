package upstream

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
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
	resp, err := c.Do(req, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	done := make(chan error, 1)
	go func() { done <- Stream(rec, resp, NewSecrets("tok"), 50*time.Millisecond, cancel) }()
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

func TestRedactorMasksTokensAcrossChunks(t *testing.T) {
	const token = "tok-SECRET-123"
	input := "a" + token + "b" + token[:5] + token[5:] + "c" + token + "d" + token[:9]
	for _, chunk := range []int{1, 2, 3, 7, 13, 14, 15, 64} {
		var out bytes.Buffer
		r := newRedactor(&out, token)
		for i := 0; i < len(input); i += chunk {
			if err := r.write([]byte(input[i:min(i+chunk, len(input))])); err != nil {
				t.Fatal(err)
			}
		}
		r.flush()
		// A stream ending inside the token masks the part that was sent.
		want := strings.ReplaceAll(input, token, strings.Repeat("*", len(token)))
		want = strings.TrimSuffix(want, token[:9]) + strings.Repeat("*", 9)
		if out.String() != want {
			t.Errorf("chunk %d: got %q, want %q", chunk, out.String(), want)
		}
	}
}

// A token with a '/' is also masked where a JSON encoder wrote it as "\/"
// (PHP's json_encode does), whatever the chunk boundaries.
func TestRedactorMasksEscapedToken(t *testing.T) {
	const token = "ab/cd+ef/gh=="
	esc := `ab\/cd+ef\/gh==`
	input := `{"auth":"Bearer ` + esc + `","raw":"` + token + `","cut":"` + esc[:6] + `"}` + esc
	want := strings.NewReplacer(esc, strings.Repeat("*", len(esc)), token, strings.Repeat("*", len(token))).Replace(input)
	for _, chunk := range []int{1, 2, 5, 14, 15, 16, 64} {
		var out bytes.Buffer
		r := newRedactor(&out, token)
		for i := 0; i < len(input); i += chunk {
			if err := r.write([]byte(input[i:min(i+chunk, len(input))])); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.flush(); err != nil {
			t.Fatal(err)
		}
		if out.String() != want {
			t.Errorf("chunk %d: got %q, want %q", chunk, out.String(), want)
		}
	}
}
