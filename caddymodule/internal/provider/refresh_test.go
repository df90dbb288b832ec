package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/widgetgate/widgetgate/internal/testenv/standin"
)

// Every provider-supplied text in these tests contains "SECRET", which
// Describe must never repeat.
const leak = "SECRET"

// retrieveErr is a token endpoint failure as golang.org/x/oauth2 reports it.
func retrieveErr(status int, code string) *oauth2.RetrieveError {
	return &oauth2.RetrieveError{
		Response:         &http.Response{StatusCode: status, Status: fmt.Sprintf("%d %s-status", status, leak)},
		Body:             []byte(`{"error":"` + code + `","error_description":"` + leak + `-body refresh_token=rt-` + leak + `"}`),
		ErrorCode:        code,
		ErrorDescription: leak + "-description",
	}
}

// refreshWith runs one real golang.org/x/oauth2 refresh against tokenURL.
func refreshWith(ctx context.Context, client *http.Client, tokenURL string, tok *oauth2.Token) error {
	if client != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, client)
	}
	cfg := &oauth2.Config{
		ClientID: "cid", ClientSecret: leak + "-client-secret",
		Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
	_, err := cfg.TokenSource(ctx, tok).Token()
	return err
}

func TestClassifyAndDescribe(t *testing.T) {
	expired := &oauth2.Token{RefreshToken: "rt-" + leak}

	// A port with nothing listening.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()

	// A server that answers garbage instead of HTTP.
	garbage, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { garbage.Close() })
	go func() {
		for {
			c, err := garbage.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 4096)
				_, _ = c.Read(buf)
				_, _ = io.WriteString(c, leak+"-GARBAGE refresh_token=x\r\n\r\n")
			}()
		}
	}()

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server notices a client going away only once the body has
		// been read.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	tlsSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"token_type":"Bearer"}`)
	}))
	t.Cleanup(empty.Close)
	notJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "<html>"+leak+"</html>")
	}))
	t.Cleanup(notJSON.Close)
	sp := standin.New()
	standinSrv := httptest.NewServer(sp)
	t.Cleanup(standinSrv.Close)

	past, cancelPast := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancelPast()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name     string
		err      error
		want     Failure
		describe string // exact, or a prefix when it ends in "..."
	}{
		{"nil", nil, FailureNone, ""},

		// Token endpoint answers.
		{"400 invalid_grant", retrieveErr(400, "invalid_grant"), FailureInvalidGrant, "token endpoint answered 400 invalid_grant"},
		{"401 without a code", retrieveErr(401, ""), FailureInvalidGrant, "token endpoint answered 401"},
		{"400 without a code", retrieveErr(400, ""), FailureInvalidGrant, "token endpoint answered 400"},
		{"400 vendor code", retrieveErr(400, "refresh_token_reused"), FailureInvalidGrant, "token endpoint answered 400 refresh_token_reused"},
		{"401 invalid_client", retrieveErr(401, "invalid_client"), FailureOther, "token endpoint answered 401 invalid_client"},
		{"400 invalid_request", retrieveErr(400, "invalid_request"), FailureOther, "token endpoint answered 400 invalid_request"},
		{"400 unauthorized_client", retrieveErr(400, "unauthorized_client"), FailureOther, "token endpoint answered 400 unauthorized_client"},
		{"403", retrieveErr(403, ""), FailureOther, "token endpoint answered 403"},
		{"404", retrieveErr(404, ""), FailureOther, "token endpoint answered 404"},
		{"500", retrieveErr(500, ""), FailureTransient, "token endpoint answered 500"},
		{"502 with a misleading code", retrieveErr(502, "invalid_client"), FailureTransient, "token endpoint answered 502 invalid_client"},
		{"503 temporarily_unavailable", retrieveErr(503, "temporarily_unavailable"), FailureTransient, "token endpoint answered 503 temporarily_unavailable"},
		{"400 server_error", retrieveErr(400, "server_error"), FailureTransient, "token endpoint answered 400 server_error"},
		{"429", retrieveErr(429, ""), FailureTransient, "token endpoint answered 429"},
		{"408", retrieveErr(408, ""), FailureTransient, "token endpoint answered 408"},
		{"500 invalid_grant", retrieveErr(500, "invalid_grant"), FailureInvalidGrant, "token endpoint answered 500 invalid_grant"},
		{"slack 200 invalid_refresh_token", retrieveErr(200, "invalid_refresh_token"), FailureInvalidGrant, "token endpoint answered 200 with error invalid_refresh_token"},
		{"slack 200 bad_client_secret", retrieveErr(200, "bad_client_secret"), FailureOther, "token endpoint answered 200 with error bad_client_secret"},
		{"code that is not an identifier", retrieveErr(400, "<b>"+leak+"</b>"), FailureInvalidGrant, "token endpoint answered 400"},
		{"no response", &oauth2.RetrieveError{ErrorCode: "invalid_grant"}, FailureInvalidGrant, "token endpoint refused the refresh: invalid_grant"},
		{"wrapped", fmt.Errorf("refreshing passport p1: %w", retrieveErr(400, "invalid_grant")), FailureInvalidGrant, "token endpoint answered 400 invalid_grant"},
		{"real oauth2 against the stand-in", refreshWith(context.Background(), standinSrv.Client(), standinSrv.URL+"/oauth/token", &oauth2.Token{RefreshToken: "never-issued"}),
			FailureInvalidGrant, "token endpoint answered 400 invalid_grant"},

		// Network and time.
		{"connection refused", refreshWith(context.Background(), nil, "http://"+closedAddr+"/token", expired), FailureTransient,
			"token endpoint unreachable: dial tcp " + closedAddr + ": connect: connection refused"},
		{"malformed HTTP answer", refreshWith(context.Background(), nil, "http://"+garbage.Addr().String()+"/token", expired), FailureTransient,
			"token endpoint unreachable: net/http: HTTP/1.x transport connection broken: malformed HTTP ..."},
		{"context deadline", refreshWith(past, nil, slow.URL, expired), FailureTransient, "token endpoint timed out"},
		{"client timeout", refreshWith(context.Background(), &http.Client{Timeout: 50 * time.Millisecond}, slow.URL, expired), FailureTransient, "token endpoint timed out"},
		{"bare deadline", context.DeadlineExceeded, FailureTransient, "token endpoint timed out"},
		{"canceled", refreshWith(canceled, nil, slow.URL, expired), FailureTransient, "token request canceled"},
		{"unexpected EOF", fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), FailureTransient, "token endpoint connection failed: unexpected EOF"},
		{"op error", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, FailureTransient,
			"token endpoint connection failed: read tcp: connection reset by peer"},

		// Misconfiguration.
		{"untrusted certificate", refreshWith(context.Background(), &http.Client{}, tlsSrv.URL, expired), FailureOther,
			"token endpoint request failed: tls: failed to verify certificate: x509: ..."},
		{"unsupported scheme", refreshWith(context.Background(), nil, "ftp://example.com/token", expired), FailureOther,
			"token endpoint request failed: unsupported protocol scheme"},
		{"200 without access_token", refreshWith(context.Background(), nil, empty.URL, expired), FailureOther, "token endpoint returned an unusable response"},
		{"200 not JSON", refreshWith(context.Background(), nil, notJSON.URL, expired), FailureOther, "token endpoint returned an unusable response"},
		{"no refresh token", refreshWith(context.Background(), nil, empty.URL, &oauth2.Token{AccessToken: "at", Expiry: time.Now().Add(-time.Hour)}),
			FailureInvalidGrant, "access token expired and there is no refresh token"},
		{"bad instance URL", func() error {
			_, err := AppspaceTokenSource(context.Background(), nil, "http://acme.example", "s", "rt").Token()
			return err
		}(), FailureOther, "invalid instance_url: must use https (http is allowed only for localhost, 127.0.0.1 and ::1)"},
		{"anything else", errors.New(leak + " something"), FailureOther, "token refresh failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil && tc.want != FailureNone {
				t.Fatal("test setup produced no error")
			}
			if got := Classify(tc.err); got != tc.want {
				t.Errorf("Classify = %v, want %v (err: %v)", got, tc.want, tc.err)
			}
			got := Describe(tc.err)
			if prefix, ok := strings.CutSuffix(tc.describe, "..."); ok {
				if !strings.HasPrefix(got, prefix) {
					t.Errorf("Describe = %q, want prefix %q", got, prefix)
				}
			} else if got != tc.describe {
				t.Errorf("Describe = %q, want %q", got, tc.describe)
			}
			if strings.Contains(got, leak) || strings.Contains(got, "rt-") {
				t.Errorf("Describe leaks provider text or a token: %q", got)
			}
		})
	}
}

func TestFailureString(t *testing.T) {
	for f, want := range map[Failure]string{
		FailureNone: "none", FailureInvalidGrant: "invalid_grant", FailureTransient: "transient", FailureOther: "other", Failure(9): "Failure(9)",
	} {
		if got := f.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(f), got, want)
		}
	}
}
