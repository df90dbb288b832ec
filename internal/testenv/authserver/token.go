package authserver

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// POST /token: the authorization_code grant (with the PKCE check) and the
// refresh_token grant (with rotation), and the token response.

// token is the token endpoint (RFC 6749 section 3.2).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.tokenCalls++
	s.mu.Unlock()
	// RFC 6749 section 5.1: token responses must not be cached.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")

	form, ok := s.clientRequest(w, r, "The token endpoint only accepts POST.")
	if !ok {
		return
	}
	switch gt := form.Get("grant_type"); gt {
	case "authorization_code":
		s.exchangeCode(w, r, form)
	case "refresh_token":
		s.refreshGrant(w, r, form)
	case "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: grant_type")
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "Unsupported grant_type: "+gt)
	}
}

// exchangeCode redeems an authorization code (RFC 6749 section 4.1.3 and
// RFC 7636 section 4.6).
func (s *Server) exchangeCode(w http.ResponseWriter, r *http.Request, form url.Values) {
	code, redirectURI, verifier := form.Get("code"), form.Get("redirect_uri"), form.Get("code_verifier")
	if code == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: code")
		return
	}

	now := s.cfg.Now()
	var (
		g             *grant
		access, rtok  string
		failure       string
		accessExpires time.Time
	)
	s.mu.Lock()
	c := s.codes[code]
	switch {
	case c == nil:
		failure = "The authorization code is invalid."
	case c.used:
		// RFC 6749 section 4.1.2: a code used twice means it leaked;
		// the server should revoke every token issued from it.
		if c.grant != nil {
			s.revokeGrantLocked(c.grant)
		}
		failure = "The authorization code has already been used."
	case !now.Before(c.expires):
		failure = "The authorization code has expired."
	case c.clientID != s.cfg.ClientID:
		failure = "The authorization code was issued to another client."
	case redirectURI != c.redirectURI:
		// Section 4.1.3: required and identical when the authorization
		// request had one, which this server always demands.
		failure = "The redirect_uri does not match the one of the authorization request."
	case verifier == "":
		failure = "Missing code_verifier."
	case !validVerifier(verifier):
		failure = "Invalid code_verifier: it must be 43 to 128 unreserved characters."
	case subtle.ConstantTimeCompare([]byte(s256(verifier)), []byte(c.challenge)) != 1:
		failure = "The code_verifier does not match the code_challenge."
	}
	if c != nil {
		c.used = true
	}
	if failure == "" {
		g = &grant{scope: c.scope, nonce: c.nonce}
		c.grant = g
		access, rtok, accessExpires = s.issueLocked(g, now)
	}
	s.mu.Unlock()

	if failure != "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", failure)
		return
	}
	s.writeTokens(w, r, now, access, rtok, accessExpires, g.scope, g.nonce)
}

// refreshGrant redeems a refresh token with rotation (RFC 6749 section 6,
// RFC 9700 section 4.14.2).
func (s *Server) refreshGrant(w http.ResponseWriter, r *http.Request, form url.Values) {
	rt := form.Get("refresh_token")
	if rt == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: refresh_token")
		return
	}

	now := s.cfg.Now()
	var (
		errCode, failure string
		access, next     string
		scope, nonce     string
		accessExpires    time.Time
	)
	s.mu.Lock()
	old := s.refresh[rt]
	switch {
	case old == nil || old.revoked:
		errCode, failure = "invalid_grant", "The refresh token is invalid or has been revoked."
	case old.rotated:
		// Reuse of a superseded token: either the client lost track of
		// rotation or the token was stolen. Real servers cannot tell
		// which, so they revoke the grant.
		s.revokeGrantLocked(old.grant)
		errCode, failure = "invalid_grant", "The refresh token has already been used."
	default:
		scope = old.grant.scope
		// Section 6: a narrower scope may be asked for, never a wider
		// one; the grant (and so later refreshes) keeps its original.
		if req := form.Get("scope"); req != "" {
			granted := s.splitScope(old.grant.scope)
			for _, sc := range s.splitScope(req) {
				if !slices.Contains(granted, sc) {
					errCode, failure = "invalid_scope", "The requested scope exceeds the granted scope: "+sc
					break
				}
			}
			scope = req
		}
		if failure == "" {
			nonce = old.grant.nonce
			access, next, accessExpires = s.issueLocked(old.grant, now)
		}
	}
	s.mu.Unlock()

	if failure != "" {
		writeOAuthError(w, http.StatusBadRequest, errCode, failure)
		return
	}
	s.writeTokens(w, r, now, access, next, accessExpires, scope, nonce)
}

// issueLocked issues a new access and refresh token for g, superseding its
// previous refresh token. s.mu must be held.
func (s *Server) issueLocked(g *grant, now time.Time) (access, refresh string, expires time.Time) {
	access, refresh = newToken("at_"), newToken("rt_")
	expires = now.Add(time.Duration(s.cfg.ExpiresIn) * time.Second)
	s.access[access] = &accessToken{grant: g, expires: expires}
	g.access = append(g.access, access)
	if prev := s.refresh[g.refresh]; prev != nil {
		prev.rotated = true
	}
	s.refresh[refresh] = &refreshToken{grant: g}
	g.refresh = refresh
	return access, refresh, expires
}

// writeTokens reports access to Config.Issued and writes the token
// response (RFC 6749 section 5.1).
func (s *Server) writeTokens(w http.ResponseWriter, r *http.Request, now time.Time, access, refresh string, accessExpires time.Time, scope, nonce string) {
	resp := map[string]any{
		"token_type": "Bearer",
		"expires_in": s.cfg.ExpiresIn,
	}
	// Section 5.1 makes scope optional when it is what was requested;
	// with nothing requested there is nothing meaningful to send.
	if scope != "" {
		resp["scope"] = scope
	}
	for k, v := range s.cfg.ExtraTokenFields {
		resp[k] = v
	}
	resp["access_token"] = access
	resp["refresh_token"] = refresh
	if s.cfg.IDTokenClaims != nil {
		idToken, err := s.idToken(r, now, accessExpires, nonce)
		if err != nil {
			writeOAuthError(w, http.StatusInternalServerError, "server_error", "Signing the ID token failed: "+err.Error())
			return
		}
		resp["id_token"] = idToken
	}
	if s.cfg.Issued != nil {
		// Before the response, so the token is accepted by the API
		// stand-in by the time the client can use it.
		s.cfg.Issued(access)
	}
	writeJSON(w, http.StatusOK, resp)
}

// idToken signs an OpenID Connect ID token with HS256.
func (s *Server) idToken(r *http.Request, now, expires time.Time, nonce string) (string, error) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	claims := jwt.MapClaims{
		"iss": scheme + "://" + r.Host,
		"aud": s.cfg.ClientID,
		"iat": now.Unix(),
		"exp": expires.Unix(),
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	maps.Copy(claims, s.cfg.IDTokenClaims)
	key := s.cfg.IDTokenKey
	if key == nil {
		key = []byte(s.cfg.ClientSecret)
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
}

// validVerifier reports whether v is a well-formed code verifier: 43 to
// 128 unreserved characters (RFC 7636 section 4.1).
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range []byte(v) {
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

// s256 is the S256 code challenge of verifier.
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
