package e2e

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// TestRawSlowReaderNotCut: idle_timeout is for a provider that stalls. A
// widget that stops reading for longer (a paused screen, a slow link)
// blocks widgetgate's writes, not the provider's reads, and must still get
// the whole stream. The pause is the behaviour under test: the reader
// reads a little, then nothing for three idle timeouts.
func TestRawSlowReaderNotCut(t *testing.T) {
	e := start(t, options{globalExtra: "upstream {\n\t\t\tidle_timeout 1s\n\t\t}"})
	e.provider.AddToken("at-1")
	e.vault.PutPassport(t, "pp", "custom:my-api-connector", "at-1")
	e.bind(t, "screen", map[string]any{"labAuth": "pp"})

	req, _ := http.NewRequest("GET", e.gw.URL+"/sidecar/widgets/lab/apis/stream/raw", nil)
	req.Header.Set("X-Widget-Instance", "screen")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	first, err := io.ReadFull(resp.Body, make([]byte, 64<<10))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // the widget stops reading; socket buffers fill
	rest, err := io.Copy(io.Discard, resp.Body)
	if got := int64(first) + rest; got != 5000000 || err != nil {
		t.Errorf("got %d of 5000000 bytes (%v): the stream was cut while the reader paused", got, err)
	}
}
