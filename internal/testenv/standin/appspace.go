package standin

import (
	"encoding/json"
	"net/http"
)

// The Appspace API v3 token endpoint (/api/v3/authorization/token):
// Appspace's JSON refresh body and answer.

// appspaceTokenRequest is the refresh body Appspace documents.
type appspaceTokenRequest struct {
	SubjectType  string `json:"subjectType"`
	SubjectID    string `json:"subjectId"`
	GrantType    string `json:"grantType"`
	RefreshToken string `json:"refreshToken"`
}

// appspaceTokenResponse is Appspace's answer. The lifetimes are JSON strings,
// as in Appspace's documentation.
type appspaceTokenResponse struct {
	AccessToken           string `json:"accessToken"`
	RefreshToken          string `json:"refreshToken"`
	IDToken               string `json:"idToken"`
	ExpiresIn             string `json:"expiresIn"`
	RefreshTokenExpiresIn string `json:"refreshTokenExpiresIn"`
}

// appspaceToken implements the Appspace API v3 refresh with the same
// rotation as token: the refresh tokens added with AddRefreshToken are
// redeemable here (once), and every success returns a new one.
//
// Appspace does not document its error bodies, so failures use RFC 6749
// section 5.2 bodies as /oauth/token does (400 invalid_grant for an unknown
// or already-used refresh token). Any non-empty subjectId is accepted, the
// way any client credentials are at /oauth/token.
func (p *Provider) appspaceToken(w http.ResponseWriter, r *http.Request) {
	if !p.tokenEndpoint(w, r, "application/json") {
		return
	}
	var req appspaceTokenRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Malformed request body.")
		return
	}
	switch {
	case req.GrantType != "refreshToken":
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "grantType must be refreshToken.")
		return
	case req.SubjectType != "Application":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "subjectType must be Application.")
		return
	case req.SubjectID == "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: subjectId")
		return
	case req.RefreshToken == "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: refreshToken")
		return
	}

	access, next, valid := p.redeem(req.RefreshToken)
	if !valid {
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", tokenInvalidGrantDesc)
		return
	}
	writeJSON(w, http.StatusOK, plainJSON, appspaceTokenResponse{
		AccessToken:           access,
		RefreshToken:          next,
		IDToken:               randomToken(),
		ExpiresIn:             "3600",
		RefreshTokenExpiresIn: "2592000",
	})
}
