package standin

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"time"
)

// What the two token endpoints (oauthtoken.go, appspace.go) share: call
// counting, the OnToken hook, the POST checks and refresh-token rotation,
// so a refresh token added once is redeemable at either of them.

// tokenEndpoint does what both token endpoints do first: count the call,
// run the test hook, forbid caching, and insist on a POST of contentType.
// It reports whether the handler goes on.
func (p *Provider) tokenEndpoint(w http.ResponseWriter, r *http.Request, contentType string) bool {
	p.mu.Lock()
	p.tokenCalls++
	p.mu.Unlock()
	if !p.tokenHook(r) {
		return false
	}

	// RFC 6749 section 5.1: token responses must not be cached.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")

	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "The token endpoint only accepts POST.")
		return false
	}
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	if !strings.EqualFold(strings.TrimSpace(ct), contentType) {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Content-Type must be "+contentType+".")
		return false
	}
	return true
}

// tokenHook runs the OnToken hook and reports whether the call goes on.
func (p *Provider) tokenHook(r *http.Request) bool {
	p.mu.Lock()
	hook := p.onToken
	p.mu.Unlock()
	if hook != nil {
		// Read the (small) body first: net/http notices a client that went
		// away, and cancels r.Context(), only once the body is consumed.
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		hook(r)
	}
	return r.Context().Err() == nil
}

// redeem rotates refresh token rt: if it is valid, it becomes invalid and
// a new access token and refresh token are issued. Check and rotate happen
// under one lock so two concurrent redemptions of rt cannot both succeed.
func (p *Provider) redeem(rt string) (access, next string, ok bool) {
	access, next = randomToken(), randomToken()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.refreshTokens[rt] {
		p.refused++
		return "", "", false
	}
	delete(p.refreshTokens, rt)
	p.refreshTokens[next] = true
	p.tokens[access] = true
	if d := p.answerDelay; d > 0 {
		// Committed: the answer is only late. (Unlocked while waiting,
		// so other calls go on.)
		p.mu.Unlock()
		time.Sleep(d)
		p.mu.Lock()
	}
	return access, next, true
}

// randomToken returns 32 random bytes, hex-encoded.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	return hex.EncodeToString(b)
}
