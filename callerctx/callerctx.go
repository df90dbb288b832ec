// Package callerctx verifies and mints the signed
// caller context: a short-lived JWT that a widget host's server issues per
// widget instance, naming the instance, the widget and the user. In signed
// mode widgetgate takes the caller's identity only from a verified token,
// never from plain headers a caller could set.
package callerctx

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTTL is the longest lifetime a context token may have.
const MaxTTL = time.Hour

// ErrInvalid wraps every reason a token is refused.
var ErrInvalid = errors.New("invalid caller context")

// Claims are the token's claims: the registered ones (sub = user id, aud,
// exp, nbf, iat) plus the instance and the widget, and optionally who the
// viewer is (OpenID Connect's standard claim names), which the Widget
// API's getUserInfo passes to the widget.
type Claims struct {
	Instance string `json:"inst"`
	Widget   string `json:"wid"`
	Name     string `json:"name,omitempty"`
	Email    string `json:"email,omitempty"`
	Locale   string `json:"locale,omitempty"`
	jwt.RegisteredClaims
}

// MaxProfileClaim bounds the name, email and locale claims.
const MaxProfileClaim = 256

// Context is a verified caller.
type Context struct {
	Instance string
	Widget   string
	User     string
	// DisplayName, Email and Language describe the viewer; empty when the
	// host did not say.
	DisplayName string
	Email       string
	Language    string
}

// Keys verify tokens. Several of each kind may be valid at once, so a key
// can be rotated without a moment where tokens fail.
type Keys struct {
	HMAC   [][]byte           // HS256 shared secrets
	Public []crypto.PublicKey // ed25519.PublicKey (EdDSA) or *ecdsa.PublicKey (ES256, P-256)
}

// Verifier checks tokens against the current keys. Safe for concurrent use.
type Verifier struct {
	keys atomic.Pointer[Keys]
	now  func() time.Time
}

// NewVerifier returns a verifier; now is the clock (nil: time.Now).
func NewVerifier(now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	v := &Verifier{now: now}
	v.keys.Store(&Keys{})
	return v
}

// SetKeys replaces the verification keys.
func (v *Verifier) SetKeys(k Keys) { v.keys.Store(&k) }

// HasKeys reports whether any key is loaded.
func (v *Verifier) HasKeys() bool {
	k := v.keys.Load()
	return len(k.HMAC)+len(k.Public) > 0
}

// Verify checks token's signature, audience and lifetime and returns the
// caller it names. The algorithm must match the kind of key that verifies
// it: an HS256 token is only checked against shared secrets, never against
// a public key used as an HMAC secret (algorithm confusion), and "none" is
// never accepted.
func (v *Verifier) Verify(token, audience string) (Context, error) {
	keys := v.keys.Load()
	var methods []string
	if len(keys.HMAC) > 0 {
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	for _, k := range keys.Public {
		switch k.(type) {
		case ed25519.PublicKey:
			methods = append(methods, jwt.SigningMethodEdDSA.Alg())
		case *ecdsa.PublicKey:
			methods = append(methods, jwt.SigningMethodES256.Alg())
		}
	}
	if len(methods) == 0 {
		return Context{}, fmt.Errorf("%w: no verification key is loaded", ErrInvalid)
	}
	var claims Claims
	_, err := jwt.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		return jwt.VerificationKeySet{Keys: keysFor(keys, t.Method)}, nil
	},
		jwt.WithValidMethods(methods),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(v.now),
		jwt.WithLeeway(5*time.Second),
	)
	if err != nil {
		return Context{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if claims.ExpiresAt.Sub(v.now()) > MaxTTL+5*time.Second ||
		(claims.IssuedAt != nil && claims.ExpiresAt.Sub(claims.IssuedAt.Time) > MaxTTL) {
		return Context{}, fmt.Errorf("%w: lives longer than %s", ErrInvalid, MaxTTL)
	}
	if claims.Instance == "" || claims.Widget == "" {
		return Context{}, fmt.Errorf("%w: the inst and wid claims are required", ErrInvalid)
	}
	for name, v := range map[string]string{"name": claims.Name, "email": claims.Email, "locale": claims.Locale} {
		if !profileClaim(v) {
			return Context{}, fmt.Errorf("%w: the %s claim must be at most %d bytes of text without control characters", ErrInvalid, name, MaxProfileClaim)
		}
	}
	return Context{Instance: claims.Instance, Widget: claims.Widget, User: claims.Subject,
		DisplayName: claims.Name, Email: claims.Email, Language: claims.Locale}, nil
}

// profileClaim reports whether v can be shown to a widget as it is.
func profileClaim(v string) bool {
	return len(v) <= MaxProfileClaim && utf8.ValidString(v) && !strings.ContainsFunc(v, unicode.IsControl)
}

// keysFor returns the keys of the kind method verifies with.
func keysFor(keys *Keys, method jwt.SigningMethod) []jwt.VerificationKey {
	var out []jwt.VerificationKey
	switch method.(type) {
	case *jwt.SigningMethodHMAC:
		for _, k := range keys.HMAC {
			out = append(out, k)
		}
	case *jwt.SigningMethodEd25519:
		for _, k := range keys.Public {
			if ek, ok := k.(ed25519.PublicKey); ok {
				out = append(out, ek)
			}
		}
	case *jwt.SigningMethodECDSA:
		for _, k := range keys.Public {
			if ek, ok := k.(*ecdsa.PublicKey); ok {
				out = append(out, ek)
			}
		}
	}
	return out
}

// Mint issues a token for c, valid for ttl (at most MaxTTL) from now. key
// is an HS256 secret ([]byte), an ed25519.PrivateKey or an
// *ecdsa.PrivateKey (P-256).
func Mint(key any, c Context, audience string, ttl time.Duration, now time.Time) (string, error) {
	if ttl <= 0 || ttl > MaxTTL {
		return "", fmt.Errorf("ttl %s: must be between 0 and %s", ttl, MaxTTL)
	}
	var method jwt.SigningMethod
	switch key.(type) {
	case []byte:
		method = jwt.SigningMethodHS256
	case ed25519.PrivateKey:
		method = jwt.SigningMethodEdDSA
	case *ecdsa.PrivateKey:
		method = jwt.SigningMethodES256
	default:
		return "", fmt.Errorf("unsupported key type %T", key)
	}
	claims := Claims{Instance: c.Instance, Widget: c.Widget, Name: c.DisplayName, Email: c.Email, Locale: c.Language, RegisteredClaims: jwt.RegisteredClaims{
		Subject: c.User, Audience: jwt.ClaimStrings{audience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}}
	return jwt.NewWithClaims(method, claims).SignedString(key)
}

// ParsePublicKey reads a PEM "PUBLIC KEY" (PKIX) holding an Ed25519 or a
// P-256 ECDSA key.
func ParsePublicKey(data []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	switch k := k.(type) {
	case ed25519.PublicKey:
		return k, nil
	case *ecdsa.PublicKey:
		if k.Curve.Params().Name != "P-256" {
			return nil, fmt.Errorf("ECDSA key on %s: only P-256 (ES256) is supported", k.Curve.Params().Name)
		}
		return k, nil
	}
	return nil, fmt.Errorf("unsupported public key type %T (want Ed25519 or P-256)", k)
}

// ParsePrivateKey reads a PEM "PRIVATE KEY" (PKCS #8) holding an Ed25519
// or a P-256 ECDSA key, for minting.
func ParsePrivateKey(data []byte) (any, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	switch k.(type) {
	case ed25519.PrivateKey, *ecdsa.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("unsupported private key type %T", k)
}

// ReadPublicKeyFiles reads and parses the PEM public keys in files, and
// returns them with the files' bytes (which a config's identity hashes).
func ReadPublicKeyFiles(files []string) (keys []crypto.PublicKey, raw [][]byte, err error) {
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, err
		}
		k, err := ParsePublicKey(data)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f, err)
		}
		keys, raw = append(keys, k), append(raw, data)
	}
	return keys, raw, nil
}
