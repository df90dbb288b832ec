package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/fanout"
	"github.com/widgetgate/widgetgate/caddymodule/internal/problem"
	"github.com/widgetgate/widgetgate/caddymodule/internal/schema"
	"github.com/widgetgate/widgetgate/caddymodule/internal/upstream"
)

// Result is a call's answer, ready to be written: the envelope, or the
// provider's response to stream. Serve or Close it exactly once.
type Result struct {
	API *schema.API // the API called; nil if the lookup did not find it
	Raw bool        // …/raw: the answer is the provider's response, streamed

	// Source says where the answer came from (the Widgetgate-Cache
	// header); Age is a cached answer's age.
	Source fanout.Source
	Age    time.Duration

	envelope *upstream.Buffer
	shared   []byte // an envelope shared with identical calls: read-only
	resp     *http.Response
	secrets  *upstream.Secrets
	idle     time.Duration
	cancel   context.CancelFunc

	// What the provider answered, for the fan-out stage.
	status int
	header http.Header
}

// CacheHeaders sets the headers that say where the answer came from:
// Widgetgate-Cache, and Age for a cached one. They go on problems too.
func (r *Result) CacheHeaders(h http.Header) {
	h.Set("Widgetgate-Cache", r.Source.String())
	if r.Source == fanout.Hit || r.Source == fanout.Stale {
		h.Set("Age", strconv.FormatInt(int64(r.Age/time.Second), 10))
	}
}

// Serve writes the answer to w. Its error means a raw stream was cut
// short after its status line was written: there is nothing left to tell
// the caller, only something to log.
func (r *Result) Serve(w http.ResponseWriter) error {
	defer r.Close()
	r.CacheHeaders(w.Header())
	if r.resp != nil {
		resp := r.resp
		r.resp = nil
		return upstream.Stream(w, resp, r.secrets, r.idle, r.cancel)
	}
	body := r.shared
	if r.envelope != nil {
		body = r.envelope.Bytes()
	}
	if body == nil {
		return nil
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	// Known length: no chunked framing, and one write for the whole answer.
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	return nil
}

// Close releases what an unserved result holds: the provider's response,
// the pooled envelope and the upstream call's context.
func (r *Result) Close() {
	if r.resp != nil {
		r.resp.Body.Close()
		r.resp = nil
	}
	if r.envelope != nil {
		r.envelope.Release()
		r.envelope = nil
	}
	if r.cancel != nil {
		r.cancel()
		r.cancel = nil
	}
}

// send runs the exchange and builds the answer: the envelope, read whole
// and capped, or the raw response, left to stream.
func (g *Gateway) send(parent context.Context, c *Prepared) (Result, *problem.Problem) {
	res := Result{API: c.API, Raw: c.Raw}
	ctx, cancel := context.WithCancel(parent)
	// Envelope mode bounds the whole call; raw mode only until headers
	// arrive, so a large download is not cut off mid-stream.
	deadline := time.AfterFunc(g.cfg.Client.Timeout(), cancel)
	defer deadline.Stop()

	// Every token the call sends (a forced refresh adds one) is masked in
	// everything the provider answers.
	secrets := upstream.NewSecrets()
	resp, p := g.exchange(ctx, c, secrets)
	if resp != nil {
		res.status, res.header = resp.StatusCode, resp.Header
	}
	if p != nil {
		if !deadline.Stop() {
			p = upstreamProblem(parent, upstream.ErrTimeout) // our deadline fired and cancelled the call
		}
		cancel()
		return res, p
	}
	if c.Raw {
		deadline.Stop()
		res.resp, res.secrets, res.idle, res.cancel = resp, secrets, g.cfg.Client.IdleTimeout(), cancel
		return res, nil
	}
	envelope, err := upstream.Envelope(resp, secrets, g.cfg.MaxResponseBytes)
	if err != nil {
		defer cancel()
		if errors.Is(err, upstream.ErrTooLarge) {
			return res, problem.New(http.StatusBadGateway, "upstream_response_too_large",
				fmt.Sprintf("the provider's response is larger than %d bytes; use …/raw to stream it", g.cfg.MaxResponseBytes))
		}
		if !deadline.Stop() {
			err = upstream.ErrTimeout
		}
		return res, upstreamProblem(parent, err)
	}
	res.envelope, res.cancel, res.secrets = envelope, cancel, secrets
	return res, nil
}
