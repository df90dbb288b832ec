package callerctx

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	now    = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	caller = Context{Instance: "lobby-screen", Widget: "calendar", User: "u-42"}
)

// sign signs claims with key by method, for tokens Mint would never make.
func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claimsAt(iat, exp time.Time, aud string) Claims {
	return Claims{Instance: caller.Instance, Widget: caller.Widget, RegisteredClaims: jwt.RegisteredClaims{
		Subject: caller.User, Audience: jwt.ClaimStrings{aud},
		IssuedAt: jwt.NewNumericDate(iat), ExpiresAt: jwt.NewNumericDate(exp),
	}}
}

func TestVerify(t *testing.T) {
	current, previous := []byte("current-secret-0123456789abcdef"), []byte("previous-secret-0123456789abcde")
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	v := NewVerifier(func() time.Time { return now })
	v.SetKeys(Keys{HMAC: [][]byte{current, previous}, Public: []crypto.PublicKey{edPub, &ecPriv.PublicKey}})

	mint := func(key any) func(t *testing.T) string {
		return func(t *testing.T) string {
			s, err := Mint(key, caller, "widgetgate", 5*time.Minute, now)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	tests := []struct {
		name  string
		token func(t *testing.T) string
		ok    bool
	}{
		{"HS256, current secret", mint(current), true},
		{"HS256, previous secret (rotation)", mint(previous), true},
		{"EdDSA", mint(edPriv), true},
		{"ES256", mint(ecPriv), true},
		{"ES256 by a key not loaded", mint(otherEC), false},
		{"HS256 by an unknown secret", mint([]byte("some-other-secret-0123456789abc")), false},
		{"expired", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, current, claimsAt(now.Add(-10*time.Minute), now.Add(-time.Minute), "widgetgate"))
		}, false},
		{"not valid yet", func(t *testing.T) string {
			c := claimsAt(now, now.Add(5*time.Minute), "widgetgate")
			c.NotBefore = jwt.NewNumericDate(now.Add(time.Minute))
			return sign(t, jwt.SigningMethodHS256, current, c)
		}, false},
		{"wrong audience", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, current, claimsAt(now, now.Add(5*time.Minute), "someone-else"))
		}, false},
		{"lives longer than MaxTTL", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, current, claimsAt(now, now.Add(2*time.Hour), "widgetgate"))
		}, false},
		{"no exp", func(t *testing.T) string {
			c := claimsAt(now, now, "widgetgate")
			c.ExpiresAt = nil
			return sign(t, jwt.SigningMethodHS256, current, c)
		}, false},
		{"no inst", func(t *testing.T) string {
			c := claimsAt(now, now.Add(time.Minute), "widgetgate")
			c.Instance = ""
			return sign(t, jwt.SigningMethodHS256, current, c)
		}, false},
		{"alg none", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claimsAt(now, now.Add(time.Minute), "widgetgate"))
		}, false},
		{"HS256 keyed with the Ed25519 public key (algorithm confusion)", func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, []byte(edPub), claimsAt(now, now.Add(time.Minute), "widgetgate"))
		}, false},
		{"payload tampered", func(t *testing.T) string {
			parts := strings.Split(mint(current)(t), ".")
			forged := strings.Split(sign(t, jwt.SigningMethodHS256, []byte("x"), Claims{Instance: "other-screen", Widget: caller.Widget,
				RegisteredClaims: jwt.RegisteredClaims{Audience: jwt.ClaimStrings{"widgetgate"}, ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute))}}), ".")
			return parts[0] + "." + forged[1] + "." + parts[2]
		}, false},
		{"not a token", func(*testing.T) string { return "not.a.token" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.Verify(tc.token(t), "widgetgate")
			if !tc.ok {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("accepted (%+v, %v), want ErrInvalid", got, err)
				}
				return
			}
			if err != nil || got != caller {
				t.Fatalf("got %+v, %v; want %+v", got, err, caller)
			}
		})
	}
}

func TestVerifyProfileClaims(t *testing.T) {
	secret := []byte("current-secret-0123456789abcdef")
	v := NewVerifier(func() time.Time { return now })
	v.SetKeys(Keys{HMAC: [][]byte{secret}})
	withProfile := func(name, email, locale string) string {
		c := claimsAt(now, now.Add(time.Minute), "widgetgate")
		c.Name, c.Email, c.Locale = name, email, locale
		return sign(t, jwt.SigningMethodHS256, secret, c)
	}
	viewer := Context{Instance: caller.Instance, Widget: caller.Widget, User: caller.User,
		DisplayName: "Ada Lovelace", Email: "ada@example.com", Language: "en-GB"}
	tok, err := Mint(secret, viewer, "widgetgate", time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v.Verify(tok, "widgetgate"); err != nil || got != viewer {
		t.Fatalf("minted with a profile: got %+v, %v; want %+v", got, err, viewer)
	}
	for _, tc := range []struct{ name, token string }{
		{"name too long", withProfile(strings.Repeat("n", MaxProfileClaim+1), "", "")},
		{"email with a newline", withProfile("", "a@b\nBcc: x", "")},
		{"locale with a control character", withProfile("", "", "en\u0007")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := v.Verify(tc.token, "widgetgate"); !errors.Is(err, ErrInvalid) {
				t.Fatalf("accepted (%+v, %v)", got, err)
			}
		})
	}
}

func TestVerifierWithoutKeys(t *testing.T) {
	v := NewVerifier(nil)
	if v.HasKeys() {
		t.Fatal("a new verifier has keys")
	}
	tok, _ := Mint([]byte("secret-0123456789abcdef0123456"), caller, "widgetgate", time.Minute, time.Now())
	if _, err := v.Verify(tok, "widgetgate"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
}

func TestMintRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  any
		ttl  time.Duration
	}{
		{"zero ttl", []byte("k"), 0},
		{"ttl over MaxTTL", []byte("k"), MaxTTL + time.Second},
		{"unsupported key", "a string key", time.Minute},
	} {
		if _, err := Mint(tc.key, caller, "widgetgate", tc.ttl, now); err == nil {
			t.Errorf("%s: minted", tc.name)
		}
	}
}

func TestParseKeys(t *testing.T) {
	pemOf := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, tc := range []struct {
		name      string
		pub, priv any
		ok        bool
	}{
		{"Ed25519", edPub, edPriv, true},
		{"P-256", &p256.PublicKey, p256, true},
		{"P-384", &p384.PublicKey, nil, false},
	} {
		pubDER, _ := x509.MarshalPKIXPublicKey(tc.pub)
		got, err := ParsePublicKey(pemOf("PUBLIC KEY", pubDER))
		if (err == nil) != tc.ok {
			t.Fatalf("%s: ParsePublicKey err = %v", tc.name, err)
		}
		if !tc.ok {
			continue
		}
		privDER, _ := x509.MarshalPKCS8PrivateKey(tc.priv)
		priv, err := ParsePrivateKey(pemOf("PRIVATE KEY", privDER))
		if err != nil {
			t.Fatalf("%s: ParsePrivateKey: %v", tc.name, err)
		}
		// What one parses, the other verifies.
		v := NewVerifier(func() time.Time { return now })
		v.SetKeys(Keys{Public: []crypto.PublicKey{got}})
		tok, err := Mint(priv, caller, "widgetgate", time.Minute, now)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := v.Verify(tok, "widgetgate"); err != nil || c != caller {
			t.Errorf("%s: verify = %+v, %v", tc.name, c, err)
		}
	}
	for _, bad := range [][]byte{nil, []byte("not pem"), pemOf("PUBLIC KEY", []byte("garbage"))} {
		if _, err := ParsePublicKey(bad); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted", bad)
		}
		if _, err := ParsePrivateKey(bad); err == nil {
			t.Errorf("ParsePrivateKey(%q) accepted", bad)
		}
	}
}

func TestReadPublicKeyFiles(t *testing.T) {
	dir := t.TempDir()
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(edPub)
	good, bad := filepath.Join(dir, "host.pub"), filepath.Join(dir, "bad.pub")
	os.WriteFile(good, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
	os.WriteFile(bad, []byte("not a key"), 0o600)
	keys, raw, err := ReadPublicKeyFiles([]string{good})
	if err != nil || len(keys) != 1 || !edPub.Equal(keys[0]) || len(raw) != 1 {
		t.Fatalf("good file: %v, %d raw, %v", keys, len(raw), err)
	}
	for _, tc := range []struct{ file, want string }{
		{filepath.Join(dir, "missing.pub"), "no such file"},
		{bad, "bad.pub: "},
	} {
		if _, _, err := ReadPublicKeyFiles([]string{good, tc.file}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.file, err, tc.want)
		}
	}
}
