package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/widgetgate/widgetgate/callerctx"
	"github.com/widgetgate/widgetgate/internal/testenv"
)

// signedEnv starts a stack whose handler takes the caller only from signed
// contexts: HS256 secrets from Vault (current and previous) and an Ed25519
// host key from a PEM file.
type signedEnv struct {
	*env
	current, previous []byte
	edPriv            ed25519.PrivateKey
	edPub             ed25519.PublicKey
}

func startSigned(t *testing.T, siteExtra ...string) *signedEnv {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(pub)
	pemFile := filepath.Join(t.TempDir(), "host-ed25519.pub")
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	e := start(t, options{
		globalExtra:  "context_keys {\n\t\t\thmac_vault\n\t\t\tpublic_key_files " + pemFile + "\n\t\t}",
		handlerBlock: "caller_context signed\n\t\t\tallowed_origins http://host.example",
		extraRoutes:  strings.Join(siteExtra, "\n"),
	})
	s := &signedEnv{env: e, current: []byte(testenv.RandomHex(t, 24)), previous: []byte(testenv.RandomHex(t, 24)), edPriv: priv, edPub: pub}
	e.vault.Put(t, "widgetgate/context-keys", map[string]any{"current": string(s.current), "previous": string(s.previous)})
	const token = "at-signed-3b9d"
	e.provider.AddToken(token)
	e.vault.PutPassport(t, "pp-lobby", "google", token)
	e.vault.PutPassport(t, "pp-other", "google", "at-other")
	e.bind(t, "lobby", map[string]any{"googleCalAuth": "pp-lobby"})
	e.bind(t, "other", map[string]any{"googleCalAuth": "pp-other"})
	// The keys load from Vault in the background: wait until a good token passes.
	good := s.mint(t, s.current, callerctx.Context{Instance: "lobby", Widget: "calendar", User: "u1"}, 10*time.Minute)
	testenv.WaitFor(t, 20*time.Second, "context keys loaded", func() error {
		if r := e.call(t, "POST", calendarCall, `{}`, "X-Widget-Context", good); r.status != 200 {
			return &callError{r}
		}
		return nil
	})
	return s
}

type callError struct{ r reply }

func (e *callError) Error() string { return string(e.r.raw) }

func (s *signedEnv) mint(t *testing.T, key any, c callerctx.Context, ttl time.Duration) string {
	t.Helper()
	tok, err := callerctx.Mint(key, c, "widgetgate", ttl, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// sign signs arbitrary claims, for tokens Mint refuses to make.
func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestSignedCallerContext is the token verification table, through the
// real handler: status, code, and no upstream request.
func TestSignedCallerContext(t *testing.T) {
	s := startSigned(t)
	lobby := callerctx.Context{Instance: "lobby", Widget: "calendar", User: "u1"}
	now := time.Now()
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"inst": "lobby", "wid": "calendar", "sub": "u1", "aud": "widgetgate",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	good := s.mint(t, s.current, lobby, 10*time.Minute)
	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"lobby"`, `"other"`, 1))) + "." + parts[2]
	unsignedNone, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)

	tests := []struct {
		name, token string
		status      int
		code        string
	}{
		{"good HS256", good, 200, ""},
		{"rotated: previous key", s.mint(t, s.previous, lobby, 10*time.Minute), 200, ""},
		{"good EdDSA", s.mint(t, s.edPriv, lobby, 10*time.Minute), 200, ""},
		{"expired", sign(t, jwt.SigningMethodHS256, s.current, claims(func(c jwt.MapClaims) {
			c["iat"], c["nbf"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-time.Hour).Unix(), now.Add(-time.Minute).Unix()
		})), 401, "invalid_caller_context"},
		{"not yet valid", sign(t, jwt.SigningMethodHS256, s.current, claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(5 * time.Minute).Unix() })), 401, "invalid_caller_context"},
		{"wrong audience", sign(t, jwt.SigningMethodHS256, s.current, claims(func(c jwt.MapClaims) { c["aud"] = "another-service" })), 401, "invalid_caller_context"},
		{"wrong key", s.mint(t, []byte(testenv.RandomHex(t, 24)), lobby, 10*time.Minute), 401, "invalid_caller_context"},
		{"alg none", unsignedNone, 401, "invalid_caller_context"},
		{"algorithm confusion: HS256 keyed with the EdDSA public key", sign(t, jwt.SigningMethodHS256, []byte(s.edPub), claims(nil)), 401, "invalid_caller_context"},
		{"claims tampered", tampered, 401, "invalid_caller_context"},
		{"lives longer than an hour", sign(t, jwt.SigningMethodHS256, s.current, claims(func(c jwt.MapClaims) { c["exp"] = now.Add(2 * time.Hour).Unix() })), 401, "invalid_caller_context"},
		{"no expiry", sign(t, jwt.SigningMethodHS256, s.current, claims(func(c jwt.MapClaims) { delete(c, "exp") })), 401, "invalid_caller_context"},
		{"no instance claim", sign(t, jwt.SigningMethodHS256, s.current, claims(func(c jwt.MapClaims) { delete(c, "inst") })), 401, "invalid_caller_context"},
		{"malformed", "not-a-jwt", 401, "invalid_caller_context"},
		{"missing", "", 401, "invalid_caller_context"},
		{"widget mismatch", s.mint(t, s.current, callerctx.Context{Instance: "lobby", Widget: "my-saas", User: "u1"}, 10*time.Minute), 403, "widget_mismatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s.provider.Reset()
			var h []string
			if tc.token != "" {
				h = []string{"X-Widget-Context", tc.token}
			}
			r := s.call(t, "POST", calendarCall, `{}`, h...)
			if tc.code == "" {
				if r.status != 200 || r.json["isSuccess"] != true {
					t.Fatalf("got %d %s, want a successful call", r.status, r.raw)
				}
				return
			}
			if r.status != tc.status || r.json["code"] != tc.code {
				t.Fatalf("got %d %s, want %d %s", r.status, r.raw, tc.status, tc.code)
			}
			if n := len(s.provider.Requests()); n != 0 {
				t.Errorf("provider saw %d requests, want none", n)
			}
		})
	}
}

// TestSignedModeIgnoresInstanceHeader: in signed mode the instance comes
// from the token only; a plain header can neither replace it nor stand in
// for a token.
func TestSignedModeIgnoresInstanceHeader(t *testing.T) {
	s := startSigned(t)
	tok := s.mint(t, s.current, callerctx.Context{Instance: "lobby", Widget: "calendar", User: "u1"}, 10*time.Minute)
	s.provider.Reset()
	r := s.call(t, "POST", calendarCall, `{}`, "X-Widget-Context", tok, "X-Widget-Instance", "other")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if got := s.provider.Requests()[0].Header.Get("Authorization"); got != "Bearer at-signed-3b9d" {
		t.Errorf("provider got %q: the X-Widget-Instance header chose the passport", got)
	}
	if r := s.call(t, "POST", calendarCall, `{}`, "X-Widget-Instance", "lobby"); r.status != 401 || r.json["code"] != "invalid_caller_context" {
		t.Errorf("a plain instance header without a token: %d %s", r.status, r.raw)
	}

	// widgetgate mint-context makes tokens the handler accepts.
	keyFile := filepath.Join(t.TempDir(), "hs256.key")
	os.WriteFile(keyFile, append(s.current, '\n'), 0o600)
	out, err := testenv.Run(t, "mint-context", "--key-file", keyFile, "--widget", "calendar", "--instance", "lobby", "--ttl", "5m")
	if err != nil {
		t.Fatalf("mint-context: %v\n%s", err, out)
	}
	minted := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	if r := s.call(t, "POST", calendarCall, `{}`, "X-Widget-Context", minted); r.status != 200 {
		t.Errorf("a token from mint-context: %d %s", r.status, r.raw)
	}

	// CORS for the allowed host origin.
	pre := s.call(t, "OPTIONS", calendarCall, "", "Origin", "http://host.example", "Access-Control-Request-Method", "POST")
	if pre.status != 204 || pre.header.Get("Access-Control-Allow-Origin") != "http://host.example" ||
		!strings.Contains(pre.header.Get("Access-Control-Allow-Headers"), "X-Widget-Context") {
		t.Errorf("preflight: %d %v", pre.status, pre.header)
	}
	if other := s.call(t, "OPTIONS", calendarCall, "", "Origin", "http://evil.example", "Access-Control-Request-Method", "POST"); other.header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("CORS allowed an origin not in allowed_origins")
	}
}
