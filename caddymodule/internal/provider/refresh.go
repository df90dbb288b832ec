package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/oauth2"
)

// Failure is what a refresh error means for the passport.
type Failure int

const (
	// FailureNone: there was no error.
	FailureNone Failure = iota
	// FailureInvalidGrant: the refresh token is dead (invalid_grant, or a
	// 400/401 from the token endpoint). Retrying cannot help; the passport
	// must be reconnected.
	FailureInvalidGrant
	// FailureTransient: 5xx, 429, 408, a network error or a timeout. Retry
	// later with backoff.
	FailureTransient
	// FailureOther: any other failure, typically misconfiguration
	// (invalid_client, a wrong token URL, a rejected TLS certificate).
	// Retrying will not help until an operator acts.
	FailureOther
)

// String returns a short lower-case name for logs and metrics labels.
func (f Failure) String() string {
	switch f {
	case FailureNone:
		return "none"
	case FailureInvalidGrant:
		return "invalid_grant"
	case FailureTransient:
		return "transient"
	case FailureOther:
		return "other"
	}
	return "Failure(" + strconv.Itoa(int(f)) + ")"
}

// Error codes (RFC 6749 section 5.2 and vendor variants) that decide the
// class regardless of the HTTP status.
var (
	// deadGrantCodes mean the refresh token is dead. Slack says
	// invalid_refresh_token, with HTTP 200.
	deadGrantCodes = []string{"invalid_grant", "invalid_refresh_token"}
	// transientCodes are RFC 6749's "try again later" codes.
	transientCodes = []string{"temporarily_unavailable", "server_error", "slow_down"}
	// configCodes mean the client or request is misconfigured.
	configCodes = []string{"invalid_request", "invalid_client", "unauthorized_client", "unsupported_grant_type", "invalid_scope", "access_denied"}
)

// errNoRefreshToken is the text of golang.org/x/oauth2's error for a token
// that expired with no refresh token to renew it (not exported there).
const errNoRefreshToken = "oauth2: token expired and refresh token is not set"

// Classify says what a token refresh error means. It understands
// *oauth2.RetrieveError (from golang.org/x/oauth2 or AppspaceTokenSource),
// network and context errors, and ErrInvalidTokenResponse.
func Classify(err error) Failure {
	if err == nil {
		return FailureNone
	}
	if re, ok := asRetrieveError(err); ok {
		code := strings.ToLower(re.ErrorCode)
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		switch {
		case containsFold(deadGrantCodes, code):
			return FailureInvalidGrant
		// An overloaded or failing endpoint is retried whatever its body
		// says: gateways in front of token endpoints answer 5xx with
		// bodies of their own.
		case status >= 500, status == http.StatusTooManyRequests, status == http.StatusRequestTimeout:
			return FailureTransient
		case containsFold(transientCodes, code):
			return FailureTransient
		case containsFold(configCodes, code):
			return FailureOther
		case status == http.StatusBadRequest, status == http.StatusUnauthorized:
			// Providers that do not follow RFC 6749's error body still
			// answer a dead refresh token with 400 or 401.
			return FailureInvalidGrant
		}
		return FailureOther
	}
	if err.Error() == errNoRefreshToken {
		return FailureInvalidGrant
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return FailureTransient
	}
	if errors.Is(err, ErrInvalidTokenResponse) || isOAuth2ParseError(err) {
		return FailureOther
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if isConfigTransportError(ue.Err) {
			return FailureOther
		}
		return FailureTransient
	}
	if isNetworkError(err) || isOAuth2ReadError(err) {
		return FailureTransient
	}
	return FailureOther
}

// Describe returns a short reason for a refresh error that is safe for logs
// and for widgets: it names the status, the error code and the kind of
// network failure, and never includes the provider's response body, its
// error description, a token or a secret. "" for nil.
//
// Examples: "token endpoint answered 400 invalid_grant", "token endpoint
// unreachable: dial tcp 127.0.0.1:1: connect: connection refused", "token
// endpoint timed out".
func Describe(err error) string {
	if err == nil {
		return ""
	}
	if re, ok := asRetrieveError(err); ok {
		code := safeCode(re.ErrorCode)
		if re.Response == nil {
			if code == "" {
				return "token endpoint refused the refresh"
			}
			return "token endpoint refused the refresh: " + code
		}
		s := "token endpoint answered " + strconv.Itoa(re.Response.StatusCode)
		if code != "" {
			if re.Response.StatusCode >= 200 && re.Response.StatusCode <= 299 {
				s += " with error"
			}
			s += " " + code
		}
		return s
	}
	if err.Error() == errNoRefreshToken {
		return "access token expired and there is no refresh token"
	}
	if isTimeout(err) {
		return "token endpoint timed out"
	}
	if errors.Is(err, context.Canceled) {
		return "token request canceled"
	}
	var ie *instanceURLError
	if errors.As(err, &ie) {
		return "invalid " + InstanceURLField + ": " + ie.err.Error()
	}
	var br *badResponse
	if errors.As(err, &br) {
		return ErrInvalidTokenResponse.Error() + " (" + br.detail + ")"
	}
	if errors.Is(err, ErrInvalidTokenResponse) || isOAuth2ParseError(err) {
		return ErrInvalidTokenResponse.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if isConfigTransportError(ue.Err) {
			return "token endpoint request failed: " + safeText(ue.Err.Error())
		}
		return "token endpoint unreachable: " + safeText(ue.Err.Error())
	}
	if isNetworkError(err) || isOAuth2ReadError(err) {
		return "token endpoint connection failed: " + safeText(networkText(err))
	}
	return "token refresh failed"
}

// asRetrieveError finds an *oauth2.RetrieveError in err's chain.
func asRetrieveError(err error) (*oauth2.RetrieveError, bool) {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re != nil {
		return re, true
	}
	return nil, false
}

// isTimeout reports a deadline or a network timeout.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isNetworkError reports errors of the connection itself.
func isNetworkError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE)
}

// networkText is the innermost useful text of a network error: a
// *net.OpError's own text names the operation and address, which is what an
// operator needs; wrappers above it may not be ours to print.
func networkText(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Error()
	}
	for _, e := range []error{io.ErrUnexpectedEOF, io.EOF, syscall.ECONNRESET, syscall.ECONNREFUSED, syscall.EPIPE} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "network error"
}

// isConfigTransportError reports transport failures that retrying will not
// cure: a rejected certificate, a bad URL scheme, a redirect loop.
func isConfigTransportError(err error) bool {
	var (
		cve *tls.CertificateVerificationError
		uae x509.UnknownAuthorityError
		he  x509.HostnameError
		cie x509.CertificateInvalidError
	)
	if errors.As(err, &cve) || errors.As(err, &uae) || errors.As(err, &he) || errors.As(err, &cie) {
		return true
	}
	// net/http has no typed errors for these.
	msg := err.Error()
	return strings.Contains(msg, "unsupported protocol scheme") || strings.Contains(msg, "stopped after") && strings.Contains(msg, "redirects")
}

// golang.org/x/oauth2 reports a token response it cannot parse, and a body
// it could not read, with untyped errors; their fixed prefixes are matched.
func isOAuth2ParseError(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "oauth2: cannot parse") || msg == "oauth2: server response missing access_token"
}

func isOAuth2ReadError(err error) bool {
	return strings.HasPrefix(err.Error(), "oauth2: cannot fetch token: ") && !strings.Contains(err.Error(), "\nResponse: ")
}

// safeCode returns an error code fit to show: a short identifier. Anything
// else is provider text and is dropped.
func safeCode(code string) string {
	if code == "" || len(code) > 64 {
		return ""
	}
	for _, r := range code {
		if !(r == '_' || r == '-' || r == '.' || r == ':' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return ""
		}
	}
	return code
}

// maxReasonText bounds the network error text Describe includes.
const maxReasonText = 200

// safeText trims an error text for Describe. net/http quotes bytes it got
// from the server ("malformed HTTP response \"...\""); everything from the
// first quote on is cut so that none of them is repeated. Control
// characters are dropped and the text is bounded.
func safeText(s string) string {
	if i := strings.IndexAny(s, "\"`"); i >= 0 {
		s = strings.TrimRight(s[:i], " :")
	}
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > maxReasonText {
		s = strings.ToValidUTF8(s[:maxReasonText], "") + "..."
	}
	return s
}
