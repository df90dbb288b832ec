package vaultstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/widgetgate/widgetgate/caddymodule/internal/passport"
)

// ErrConflict is a check-and-set write that lost: the secret changed since
// it was read.
var ErrConflict = errors.New("vault check-and-set conflict")

// Record is a passport as stored: the parsed passport, every field of the
// secret (so a write keeps fields it does not know, such as account
// details), and the KV version it was read at.
type Record struct {
	Passport *passport.Passport
	Data     map[string]any
	Version  int
}

// PassportRecord reads <prefix>/passports/<id> with its version.
func (s *Store) PassportRecord(ctx context.Context, id string) (*Record, error) {
	if !ValidID(id) {
		return nil, passport.ErrNotFound
	}
	data, version, err := s.getVersioned(ctx, s.prefix+"/passports/"+id)
	if err != nil {
		return nil, err
	}
	return newRecord(id, data, version)
}

// NewRecord parses a passport secret's fields as PassportRecord does, for
// other Store implementations (the in-memory one) to build their Records
// with the same parser.
func NewRecord(id string, data map[string]any, version int) (*Record, error) {
	return newRecord(id, data, version)
}

func newRecord(id string, data map[string]any, version int) (*Record, error) {
	p, err := parsePassport(id, data)
	if err != nil {
		return nil, err
	}
	p.Version = version
	return &Record{Passport: p, Data: data, Version: version}, nil
}

func parsePassport(id string, data map[string]any) (*passport.Passport, error) {
	p := &passport.Passport{
		ID:           id,
		Provider:     str(data, "provider"),
		Status:       str(data, "status"),
		AccessToken:  str(data, "access_token"),
		TokenType:    str(data, "token_type"),
		RefreshToken: str(data, "refresh_token"),
		LastError:    str(data, "last_error"),
		SubjectID:    str(data, "subject_id"),
		InstanceURL:  str(data, "instance_url"),
		DisplayName:  str(data, "display_name"),
		Scope:        str(data, "scope"),
		AccountEmail: str(data, "account_email"),
		AccountID:    str(data, "account_id"),
		AccountName:  str(data, "account_name"),
	}
	for field, dst := range map[string]*time.Time{"expiry": &p.Expiry, "last_refresh": &p.LastRefresh, "retry_after": &p.RetryAfter, "connected_at": &p.ConnectedAt} {
		v := str(data, field)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			// Never guess a lifetime: a passport with an unreadable expiry
			// is reported as such rather than used forever.
			return nil, fmt.Errorf("%w: passport %s: %s %q is not RFC 3339", passport.ErrMalformed, id, field, v)
		}
		*dst = t
	}
	return p, nil
}

// NewPassportData is the secret of a passport just created for provider
// (a registry name): inactive until it is connected.
func NewPassportData(provider, displayName string) map[string]any {
	return map[string]any{"provider": provider, "status": passport.StatusInactive, "display_name": displayName}
}

// PastedChanges stores credentials an administrator pasted (Appspace API
// v3: subject id, refresh token, instance URL) as an active passport whose
// access token is a placeholder already expired, so that the first
// redemption validates what was pasted.
func PastedChanges(subjectID, refreshToken, instanceURL string, now time.Time) map[string]string {
	return map[string]string{"connected_at": now.UTC().Format(time.RFC3339Nano),
		"status": passport.StatusActive, "subject_id": subjectID, "refresh_token": refreshToken,
		"instance_url": instanceURL, "access_token": "pending", "expiry": time.Unix(0, 0).UTC().Format(time.RFC3339),
		"last_error": "", "retry_after": "",
	}
}

// RefusedChanges marks a passport whose pasted credentials were refused:
// inactive, its tokens deleted, reason as last_error.
func RefusedChanges(reason string) map[string]string {
	return map[string]string{"status": passport.StatusInactive, "access_token": "", "refresh_token": "", "last_error": reason}
}

// UpdatePassport writes rec with changes applied, if the passport is still
// at rec.Version (else ErrConflict). Fields not in changes are kept; a
// change to "" deletes the field. It returns the new record.
func (s *Store) UpdatePassport(ctx context.Context, rec *Record, changes map[string]string) (*Record, error) {
	data := maps.Clone(rec.Data)
	if data == nil {
		data = map[string]any{}
	}
	for k, v := range changes {
		if v == "" {
			delete(data, k)
		} else {
			data[k] = v
		}
	}
	id := rec.Passport.ID
	version, err := s.put(ctx, s.prefix+"/passports/"+id, data, rec.Version)
	if err != nil {
		return nil, err
	}
	return newRecord(id, data, version)
}

// put writes a KV v2 secret with check-and-set on version (0: must not exist).
func (s *Store) put(ctx context.Context, path string, data map[string]any, version int) (int, error) {
	var sec *vault.KVSecret
	err := s.authorized(ctx, func() (err error) {
		sec, err = s.kv.Put(ctx, path, data, vault.WithCheckAndSet(version))
		return err
	})
	if errors.Is(err, ErrUnavailable) {
		return 0, err
	}
	if err != nil {
		if isCASConflict(err) {
			return 0, fmt.Errorf("%w: %s at version %d", ErrConflict, path, version)
		}
		return 0, fmt.Errorf("%w: writing %s: %s", ErrUnavailable, path, describe(err))
	}
	if sec == nil || sec.VersionMetadata == nil {
		return 0, fmt.Errorf("%w: writing %s: no version in Vault's answer", ErrUnavailable, path)
	}
	return sec.VersionMetadata.Version, nil
}

func isCASConflict(err error) bool {
	var re *vault.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest {
		return false
	}
	for _, e := range re.Errors {
		if strings.Contains(e, "check-and-set") {
			return true
		}
	}
	return false
}

// Lease is the refresh lease of one passport: while it is held and not
// expired, only its holder may redeem the passport's refresh token.
type Lease struct {
	Holder  string    // replica id; "" when released
	Expires time.Time // the holder must renew before this
	Version int       // KV version read; 0 when the lease was never written
}

// Held reports whether the lease is held by someone at now.
func (l Lease) Held(now time.Time) bool { return l.Holder != "" && now.Before(l.Expires) }

// Lease reads <prefix>/leases/<passportId>.
func (s *Store) Lease(ctx context.Context, id string) (Lease, error) {
	data, version, err := s.getVersioned(ctx, s.prefix+"/leases/"+id)
	if errors.Is(err, passport.ErrNotFound) {
		return Lease{}, nil
	}
	if err != nil {
		return Lease{}, err
	}
	l := Lease{Holder: str(data, "holder"), Version: version}
	if v := str(data, "expires"); v != "" {
		l.Expires, _ = time.Parse(time.RFC3339Nano, v) // unreadable counts as expired
	}
	return l, nil
}

// PutLease writes the lease of passport id if it is still at prev.Version
// (else ErrConflict), and returns it with its new version.
func (s *Store) PutLease(ctx context.Context, id string, prev Lease, holder string, expires time.Time) (Lease, error) {
	data := map[string]any{"holder": holder, "expires": expires.UTC().Format(time.RFC3339Nano)}
	version, err := s.put(ctx, s.prefix+"/leases/"+id, data, prev.Version)
	if err != nil {
		return Lease{}, err
	}
	return Lease{Holder: holder, Expires: expires, Version: version}, nil
}

// ListPassports lists the passport ids under <prefix>/passports.
func (s *Store) ListPassports(ctx context.Context) ([]string, error) { return s.list(ctx, "passports") }

// Credentials are a provider's OAuth client credentials.
type Credentials struct {
	ClientID     string
	ClientSecret string
}

// ProviderCredentials reads <prefix>/providers/<name>: client_id, client_secret.
func (s *Store) ProviderCredentials(ctx context.Context, name string) (Credentials, error) {
	if !ValidID(name) {
		return Credentials{}, passport.ErrNotFound
	}
	data, err := s.get(ctx, s.prefix+"/providers/"+name)
	if err != nil {
		return Credentials{}, err
	}
	return Credentials{ClientID: str(data, "client_id"), ClientSecret: str(data, "client_secret")}, nil
}

// PutProviderCredentials stores a provider's credentials unless some are
// already there (check-and-set 0): used to import a client secret found in
// a widget package without overwriting what the operator stored.
func (s *Store) PutProviderCredentials(ctx context.Context, name string, c Credentials) (created bool, err error) {
	_, err = s.put(ctx, s.prefix+"/providers/"+name, map[string]any{"client_id": c.ClientID, "client_secret": c.ClientSecret}, 0)
	if errors.Is(err, ErrConflict) {
		return false, nil
	}
	return err == nil, err
}

// ErrRefNotAllowed: a Vault reference names a secret outside
// <prefix>/providers/.
var ErrRefNotAllowed = errors.New("vault reference not allowed")

// CheckProviderRef says whether path (inside the mount, as a widget
// package's "vault:<path>#<field>" clientSecret names it) may be read on
// the package's behalf: only <prefix>/providers/<name>. Anything else
// would let a package have another passport's refresh token or the
// context keys sent to a token URL of its choosing.
func (s *Store) CheckProviderRef(path string) error {
	name, ok := strings.CutPrefix(path, s.prefix+"/providers/")
	if !ok || name == "" || strings.Contains(name, "/") || name == "." || name == ".." {
		return fmt.Errorf("%w: %q is not under %s/providers/ (one secret per provider)", ErrRefNotAllowed, path, s.prefix)
	}
	return nil
}

// ProviderSecret reads field of the provider secret at path (see
// CheckProviderRef, which it applies).
func (s *Store) ProviderSecret(ctx context.Context, path, field string) (string, error) {
	if err := s.CheckProviderRef(path); err != nil {
		return "", err
	}
	data, err := s.get(ctx, path)
	if err != nil {
		return "", err
	}
	v := str(data, field)
	if v == "" {
		return "", fmt.Errorf("vault reference %s#%s: %w (field empty or missing)", path, field, passport.ErrNotFound)
	}
	return v, nil
}

// minContextKey is the shortest HS256 secret accepted: RFC 7518 wants a
// key at least as long as the hash output.
const minContextKey = 32

// ContextKeys reads the HS256 caller-context secrets, <prefix>/context-keys:
// "current" and, during a rotation, "previous".
func (s *Store) ContextKeys(ctx context.Context) ([][]byte, error) {
	data, err := s.get(ctx, s.prefix+"/context-keys")
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	for _, field := range []string{"current", "previous"} {
		k := str(data, field)
		if k == "" {
			continue
		}
		if len(k) < minContextKey {
			return nil, fmt.Errorf("context-keys %s: shorter than %d bytes", field, minContextKey)
		}
		keys = append(keys, []byte(k))
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("context-keys: no current key")
	}
	return keys, nil
}
