package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
)

// AppspaceTokenPath is the Appspace API v3 token endpoint, below an
// instance's base URL (the passport's InstanceURLField).
const AppspaceTokenPath = "/api/v3/authorization/token"

// maxTokenResponse bounds how much of a token endpoint's answer is read,
// like golang.org/x/oauth2 does; real answers are a few KiB.
const maxTokenResponse = 1 << 20

// maxExpiresIn bounds expiresIn so that it cannot overflow a Duration; ten
// years is far beyond any real token lifetime.
const maxExpiresIn = 10 * 365 * 24 * 3600

// ErrInvalidTokenResponse is wrapped by errors for a 2xx token response that
// cannot be used (not JSON, no access token, a malformed expiry).
var ErrInvalidTokenResponse = errors.New("token endpoint returned an unusable response")

// badResponse is an ErrInvalidTokenResponse with a fixed detail Describe can
// show: the detail is written here, never taken from the response.
type badResponse struct {
	detail string
	err    error // underlying decode error, if any
}

func (e *badResponse) Error() string {
	s := ErrInvalidTokenResponse.Error() + ": " + e.detail
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

func (e *badResponse) Is(target error) bool { return target == ErrInvalidTokenResponse }
func (e *badResponse) Unwrap() error        { return e.err }

// instanceURLError reports an unusable instance URL. Its text is written by
// CheckEndpointURL and never contains the URL.
type instanceURLError struct{ err error }

func (e *instanceURLError) Error() string {
	return "appspace: invalid " + InstanceURLField + ": " + e.err.Error()
}

func (e *instanceURLError) Unwrap() error { return e.err }

// AppspaceTokenSource returns a TokenSource that refreshes an Appspace API v3
// token: every Token call POSTs
//
//	{"subjectType":"Application","subjectId":...,"grantType":"refreshToken","refreshToken":...}
//
// to baseURL+AppspaceTokenPath and returns the new access token. baseURL is
// the instance URL (https, or http for loopback hosts).
//
// Appspace may rotate the refresh token; the source keeps the one from the
// latest response for its next call and returns it in Token.RefreshToken,
// which the caller must persist. Calls are serialized, because two
// concurrent refreshes with one rotating token would burn it.
//
// The source does not cache: wrap it with oauth2.ReuseTokenSource. Expiry is
// zero when the response has no expiresIn, and the caller then applies its
// default lifetime (ReuseTokenSource would otherwise reuse it forever).
//
// A non-2xx answer is an *oauth2.RetrieveError whose ErrorCode comes from the
// body's "error" or "code" field; a 400 or 401 that says the refresh token
// (or subject) is invalid, expired or revoked gets ErrorCode
// "invalid_grant", so Classify treats it like an OAuth provider's.
//
// client nil means http.DefaultClient; ctx (nil means Background) bounds
// every request.
func AppspaceTokenSource(ctx context.Context, client *http.Client, baseURL, subjectID, refreshToken string) oauth2.TokenSource {
	if ctx == nil {
		ctx = context.Background()
	}
	if client == nil {
		client = http.DefaultClient
	}
	return &appspaceSource{ctx: ctx, client: client, baseURL: baseURL, subjectID: subjectID, refreshToken: refreshToken}
}

type appspaceSource struct {
	ctx       context.Context
	client    *http.Client
	baseURL   string
	subjectID string

	mu           sync.Mutex // held across the request; see AppspaceTokenSource
	refreshToken string
}

// appspaceRequest is the refresh body of the Appspace widget developer guide.
type appspaceRequest struct {
	SubjectType  string `json:"subjectType"`
	SubjectID    string `json:"subjectId"`
	GrantType    string `json:"grantType"`
	RefreshToken string `json:"refreshToken"`
}

// appspaceResponse is the guide's answer. expiresIn is a JSON string there
// ("3600") but a number would be as plausible, so both are accepted.
type appspaceResponse struct {
	AccessToken  string          `json:"accessToken"`
	RefreshToken string          `json:"refreshToken"`
	TokenType    string          `json:"tokenType"`
	ExpiresIn    json.RawMessage `json:"expiresIn"`
}

// Token performs one refresh.
func (s *appspaceSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	base, err := instanceBase(s.baseURL)
	if err != nil {
		return nil, &instanceURLError{err}
	}
	if s.subjectID == "" || s.refreshToken == "" {
		// Nothing to send; this is a dead credential, not a transient
		// failure, so it is reported like the endpoint would.
		return nil, &oauth2.RetrieveError{ErrorCode: "invalid_grant", ErrorDescription: "subjectId or refreshToken is empty"}
	}
	body, err := json.Marshal(appspaceRequest{
		SubjectType: "Application", SubjectID: s.subjectID,
		GrantType: "refreshToken", RefreshToken: s.refreshToken,
	})
	if err != nil {
		return nil, fmt.Errorf("appspace: encoding token request: %w", err)
	}
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, base+AppspaceTokenPath, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("appspace: building token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err // *url.Error: Classify and Describe know it
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
	if err != nil {
		return nil, fmt.Errorf("appspace: reading token response: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, appspaceRetrieveError(resp, raw[:min(len(raw), maxTokenResponse)])
	}
	if len(raw) > maxTokenResponse {
		return nil, &badResponse{detail: "larger than 1 MiB"}
	}

	var ar appspaceResponse
	var extra map[string]any
	if err := json.Unmarshal(raw, &ar); err != nil {
		return nil, &badResponse{detail: "not the expected JSON", err: err}
	}
	_ = json.Unmarshal(raw, &extra) // succeeds whenever the line above did
	if ar.AccessToken == "" {
		return nil, &badResponse{detail: "no accessToken"}
	}
	secs, err := parseExpiresIn(ar.ExpiresIn)
	if err != nil {
		return nil, &badResponse{detail: "expiresIn " + err.Error()}
	}
	tok := &oauth2.Token{AccessToken: ar.AccessToken, TokenType: ar.TokenType, RefreshToken: ar.RefreshToken, ExpiresIn: secs}
	if tok.TokenType == "" {
		tok.TokenType = "Bearer"
	}
	if secs > 0 {
		tok.Expiry = time.Now().Add(time.Duration(secs) * time.Second)
	}
	if tok.RefreshToken == "" {
		// No rotation this time: the old refresh token stays valid.
		tok.RefreshToken = s.refreshToken
	}
	s.refreshToken = tok.RefreshToken
	// Extra keeps idToken, refreshTokenExpiresIn and anything else the
	// instance sent, as oauth2 does for its own responses.
	return tok.WithExtra(extra), nil
}

// parseExpiresIn reads a number of seconds written as a JSON number or a
// numeric string; absent, null or "" is 0 (unknown).
func parseExpiresIn(raw json.RawMessage) (int64, error) {
	text := strings.TrimSpace(string(raw))
	if text == "" || text == "null" {
		return 0, nil
	}
	if text[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, errors.New("is not a string or a number")
		}
		if text = strings.TrimSpace(s); text == "" {
			return 0, nil
		}
	}
	f, err := strconv.ParseFloat(text, 64)
	switch {
	case err != nil || math.IsNaN(f) || math.IsInf(f, 0):
		return 0, errors.New("is not a number of seconds")
	case f < 0:
		return 0, errors.New("is negative")
	case f > maxExpiresIn:
		return 0, errors.New("is implausibly large")
	}
	return int64(f), nil
}

// oauthErrorCodes are RFC 6749 section 5.2's codes other than invalid_grant:
// when a body carries one of them it says what is wrong, and no guessing
// from the message is done.
var oauthErrorCodes = []string{"invalid_request", "invalid_client", "unauthorized_client", "unsupported_grant_type", "invalid_scope"}

// appspaceRetrieveError builds the error for a non-2xx answer. Appspace does
// not document its error body, so the usual shapes are all read:
// {"error":"code","error_description":"..."}, {"error":{"code":..,"message":..}}
// and {"code":"...","message":"..."} (field names matched case-insensitively).
func appspaceRetrieveError(resp *http.Response, body []byte) *oauth2.RetrieveError {
	re := &oauth2.RetrieveError{Response: resp, Body: body}
	var doc map[string]any
	if json.Unmarshal(body, &doc) == nil {
		if inner, ok := lookupFold(doc, "error").(map[string]any); ok {
			re.ErrorCode, _ = lookupFold(inner, "code").(string)
			re.ErrorDescription, _ = lookupFold(inner, "message", "description").(string)
		} else {
			re.ErrorCode, _ = lookupFold(doc, "error", "code", "errorCode").(string)
			re.ErrorDescription, _ = lookupFold(doc, "error_description", "errorDescription", "message", "description").(string)
		}
	}
	if (resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized) &&
		re.ErrorCode != "invalid_grant" && !containsFold(oauthErrorCodes, re.ErrorCode) &&
		saysCredentialDead(re.ErrorCode+" "+re.ErrorDescription) {
		re.ErrorCode = "invalid_grant"
	}
	return re
}

// saysCredentialDead reports whether an error text says the refresh token or
// subject is no longer valid ("Invalid refresh token", "RefreshTokenExpired",
// "subject not found").
func saysCredentialDead(text string) bool {
	t := strings.ToLower(text)
	about := strings.Contains(t, "refresh") || strings.Contains(t, "token") || strings.Contains(t, "subject")
	dead := strings.Contains(t, "invalid") || strings.Contains(t, "expired") || strings.Contains(t, "revoked") || strings.Contains(t, "not found")
	return about && dead
}

// lookupFold returns the value of the first of names present in doc, with
// keys compared case-insensitively.
func lookupFold(doc map[string]any, names ...string) any {
	for _, n := range names {
		if v, ok := doc[n]; ok {
			return v
		}
		for k, v := range doc {
			if strings.EqualFold(k, n) {
				return v
			}
		}
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// appspaceProtocol is KindAppspace: connected by pasting a subjectId and
// refreshToken made in the Appspace console, refreshed with
// AppspaceTokenSource; Appspace documents no revocation endpoint.
type appspaceProtocol struct{ p *Provider }

// Connect is pasting the console's credentials.
func (appspaceProtocol) Connect() ConnectStyle { return ConnectPasted }

// NeedsClientCredentials is false: the subject and refresh token suffice.
func (appspaceProtocol) NeedsClientCredentials() bool { return false }

// TokenSource redeems at g's instance; creds is never called.
func (appspaceProtocol) TokenSource(ctx context.Context, client *http.Client, g Grant, _ ClientFunc) (oauth2.TokenSource, error) {
	if g.InstanceURL == "" || g.SubjectID == "" {
		return nil, fmt.Errorf("%w: appspace passport %s needs instance_url and subject_id", passport.ErrNotRefreshable, g.Passport)
	}
	return AppspaceTokenSource(ctx, client, g.InstanceURL, g.SubjectID, g.RefreshToken), nil
}

// CanRevoke is false.
func (appspaceProtocol) CanRevoke() bool { return false }

// Revoke always fails: there is no endpoint to revoke at.
func (a appspaceProtocol) Revoke(context.Context, *http.Client, string, string, ClientFunc) error {
	return fmt.Errorf("provider %q has no revocation endpoint", a.p.Name)
}

var _ Protocol = appspaceProtocol{}
