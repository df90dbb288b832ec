package authserver

import (
	"net/http"
)

// POST /revoke (RFC 7009), and the revocations a code replay or a reused
// refresh token trigger.

// revoke is the RFC 7009 revocation endpoint.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	form, ok := s.clientRequest(w, r, "The revocation endpoint only accepts POST.")
	if !ok {
		return
	}
	tok := form.Get("token")
	if tok == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: token")
		return
	}
	// token_type_hint is only a hint (section 2.1): both kinds are looked
	// up whatever it says, and an unknown token still gets 200 (section
	// 2.2), so a client cannot probe which tokens exist.
	s.mu.Lock()
	if a := s.access[tok]; a != nil {
		s.revokeAccessLocked(tok, a)
	} else if rt := s.refresh[tok]; rt != nil && !rt.rotated {
		// Section 2.1: revoking a refresh token should also revoke the
		// access tokens of the same grant.
		s.revokeRefreshLocked(tok, rt)
		for _, at := range rt.grant.access {
			s.revokeAccessLocked(at, s.access[at])
		}
	}
	s.mu.Unlock()
	// Section 2.2: the content of a successful response is ignored, so
	// send none.
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// revokeGrantLocked revokes every live token of g. s.mu must be held.
func (s *Server) revokeGrantLocked(g *grant) {
	if rt := s.refresh[g.refresh]; rt != nil {
		s.revokeRefreshLocked(g.refresh, rt)
	}
	for _, at := range g.access {
		s.revokeAccessLocked(at, s.access[at])
	}
}

func (s *Server) revokeAccessLocked(tok string, a *accessToken) {
	if !a.revoked {
		a.revoked = true
		s.revoked = append(s.revoked, tok)
	}
}

func (s *Server) revokeRefreshLocked(tok string, rt *refreshToken) {
	if !rt.revoked {
		rt.revoked = true
		s.revoked = append(s.revoked, tok)
	}
}
