package e2e

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/widgetgate/widgetgate/internal/testenv"
)

// TestRawSlowReaderNotCut: idle_timeout is for a provider that stalls. A
// widget that stops reading for longer (a paused screen, a slow link)
// blocks widgetgate's writes, not the provider's reads, and must still get
// the whole stream. The reader reads a little, then stops until the
// stand-in's own writes have been blocked (backpressure through
// widgetgate) for three idle timeouts, or its answer ended.
func TestRawSlowReaderNotCut(t *testing.T) {
	e := start(t, options{globalExtra: "upstream {\n\t\t\tidle_timeout 1s\n\t\t}"})
	e.provider.AddToken("at-1")
	e.vault.PutPassport(t, "pp", "custom:my-api-connector", "at-1")
	e.bind(t, "screen", map[string]any{"labAuth": "pp"})

	req, _ := http.NewRequest("GET", e.gw.URL+"/sidecar/widgets/lab/apis/hugeStream/raw", nil)
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
	testenv.WaitFor(t, 30*time.Second, "the paused reader to block the provider for 3 idle timeouts", func() error {
		if stalled, streaming := e.provider.StreamStalled(); streaming && stalled < 3*time.Second {
			return fmt.Errorf("provider blocked for %s", stalled)
		}
		return nil // blocked long enough, or the answer ended (cut, or all buffered): the count below tells
	})
	rest, err := io.Copy(io.Discard, resp.Body)
	if got := int64(first) + rest; got != 64<<20 || err != nil {
		t.Errorf("got %d of %d bytes (%v): the stream was cut while the reader paused", got, 64<<20, err)
	}
}
