package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"net/http"

	"github.com/widgetgate/widgetgate/caddymodule/internal/fanout"
	"github.com/widgetgate/widgetgate/caddymodule/internal/problem"
)

// stage runs a prepared call through the fan-out stage (coalescing, the
// response cache, cool-downs and the passport's concurrency budget), or
// straight to send when there is none.
func (g *Gateway) stage(ctx context.Context, c *Prepared) (Result, *problem.Problem) {
	if g.cfg.Fanout == nil {
		res, p := g.send(ctx, c)
		res.Source = fanout.Bypass
		return res, p
	}
	call := fanout.Call{Passport: c.Passport.ID, Provider: c.Passport.Provider, Host: c.URL.Host}
	// Only a GET's envelope is shared: a POST may change something at the
	// provider, and a raw stream is not held in memory.
	shared := !c.Raw && c.API.Method == http.MethodGet
	if shared {
		call.Key = g.callKey(c)
		if g.cfg.CacheTTL != nil {
			call.TTL = g.cfg.CacheTTL(c.API.WidgetID, c.API.Name)
		}
	}
	var own Result // a bypassed call's answer, which is not shared
	r, err := g.cfg.Fanout.Do(ctx, call, func(ctx context.Context) fanout.Answer {
		res, p := g.send(ctx, c)
		if !shared {
			own = res
			return answerOf(res, p, nil)
		}
		// Every caller of a shared call gets the same bytes: copy the
		// envelope out of its pooled buffer, which goes back at once.
		var body []byte
		if res.envelope != nil {
			body = bytes.Clone(res.envelope.Bytes())
		}
		a := answerOf(res, p, body)
		res.Close()
		return a
	})
	if err != nil {
		// Refused (cool-down, busy) or given up: nothing came from a cache.
		own.Close()
		src := fanout.Bypass
		if shared {
			src = fanout.Miss
		}
		return Result{API: c.API, Raw: c.Raw, Source: src}, stageProblem(ctx, err)
	}
	if !shared {
		own.Source = fanout.Bypass
		return own, r.Answer.Value.(*stageAnswer).problem()
	}
	sa := r.Answer.Value.(*stageAnswer)
	return Result{API: c.API, Raw: c.Raw, Source: r.Source, Age: r.Age, shared: sa.envelope}, sa.problem()
}

// stageAnswer is an Answer's Value: the problem, and for a shared call
// the envelope, every caller of the call gets.
type stageAnswer struct {
	envelope []byte
	p        *problem.Problem
}

// problem returns a copy of the shared problem, which each caller tags.
func (sa *stageAnswer) problem() *problem.Problem {
	if sa.p == nil {
		return nil
	}
	p := *sa.p
	return &p
}

// answerOf describes a send's outcome to the stage; envelope is what
// callers of a shared call get (nil when the call is not shared).
func answerOf(res Result, p *problem.Problem, envelope []byte) fanout.Answer {
	a := fanout.Answer{
		Value:  &stageAnswer{envelope: envelope, p: p},
		Status: res.status, Header: res.header,
		Size:   int64(len(envelope)),
		Masked: res.secrets.Masked(),
	}
	if p != nil {
		switch p.Code {
		case "upstream_unreachable", "upstream_timeout":
			a.Unreachable = true
		}
		a.Failed = true // a problem is shared with the calls in flight, never cached
	}
	// Google's rate-limit 403 is told by its body: read it from the
	// envelope, shared or not (a raw stream's body is not read here).
	if res.status == http.StatusForbidden && res.envelope != nil {
		a.Body = envelopeBody(res.envelope.Bytes())
	}
	return a
}

// envelopeBody returns the provider's body as the envelope embeds it (the
// JSON value itself when the provider sent JSON).
func envelopeBody(envelope []byte) []byte {
	var env struct {
		Body json.RawMessage `json:"body"`
	}
	if json.Unmarshal(envelope, &env) != nil {
		return nil
	}
	return env.Body
}

// callKey identifies identical calls: the same passport and connection,
// the same method, rendered URL, headers and body. Headers are rendered
// with a placeholder for the token: the passport is in the key, and a
// refreshed token must not empty the cache. The connection (when it was
// made, as whom) is in the key so that a passport reconnected on another
// replica never serves what its previous connection fetched. It is a hash:
// keys stay small and never hold a param in the clear.
func (g *Gateway) callKey(c *Prepared) string {
	// One buffer, hashed at once: fields are length-prefixed so that no
	// two different calls write the same bytes.
	buf := make([]byte, 0, 512)
	field := func(s string) {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
		buf = append(buf, s...)
	}
	pp := c.Passport
	field(pp.ID)
	buf = binary.BigEndian.AppendUint64(buf, uint64(pp.ConnectedAt.UnixNano()))
	field(pp.AccountID)
	field(pp.AccountEmail)
	field(c.API.Method)
	field(c.URL.String())
	for _, sh := range c.API.Headers {
		v, err := sh.Value.Render("\x00token", c.User)
		if err != nil {
			v = "\x00error:" + c.User // rendering failed; never shared with another user
		}
		field(sh.Name)
		field(v)
	}
	field(c.API.BodyContentType)
	field(string(c.API.Body))
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:])
}

// stageProblem maps the stage's refusals to problems.
func stageProblem(ctx context.Context, err error) *problem.Problem {
	var cd *fanout.CoolingDownError
	switch {
	case errors.As(err, &cd):
		p := problem.New(http.StatusTooManyRequests, "provider_rate_limited",
			"the provider rate-limited this passport; calls resume when its cool-down ends")
		p.RetryAfter = int(math.Ceil(cd.RetryAfter.Seconds()))
		return p
	case errors.Is(err, fanout.ErrBusy):
		p := problem.New(http.StatusServiceUnavailable, "passport_busy",
			"the passport has as many requests in flight as its provider allows; try again shortly")
		p.RetryAfter = 1
		return p
	}
	return upstreamProblem(ctx, err) // the caller went away
}
