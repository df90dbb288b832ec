package provider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/widgetgate/widgetgate/caddymodule/internal/strictjson"
)

// MaxPassportSize bounds a custom passport file. Real ones are well under a
// KiB; the bound keeps a hostile upload from exhausting memory.
const MaxPassportSize = 1 << 20

// CustomPrefix starts the passportProvider value of a custom passport.
const CustomPrefix = "custom:"

// categories are the categoryType values the Custom Passport modal of
// the Appspace widget developer guide offers.
var categories = []string{"Custom", "Publishing", "Delegations", "Calendar", "Library", "Social", "Dashboard", "Conferencing", "People", "Places"}

// customName is customApplicationInfo.name: kebab-case, as the Identifier
// field of the Appspace widget developer guide generates it.
var customName = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*$`)

// maxCustomName keeps "custom:<name>" a reasonable identifier.
const maxCustomName = 100

// maxScopeSeparator bounds scopeSeparator: the Appspace widget developer
// guide calls it a character; a short string is tolerated.
const maxScopeSeparator = 8

// FieldError is one problem found in a custom passport file. ParseCustom
// returns one, or several joined with errors.Join, so a developer sees every
// mistake at once.
type FieldError struct {
	// File is the file name as given to ParseCustom.
	File string
	// Field is the JSON path of the offending field, e.g.
	// "customApplicationInfo.metadata.tokenUrl"; empty when the problem is
	// the document as a whole.
	Field string
	// Msg says what is wrong. It never contains the client secret.
	Msg string
	// Err is the underlying cause, if any.
	Err error
}

// Error returns "<file>: <field>: <msg>".
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *FieldError) Unwrap() error { return e.Err }

// Field names. Those of customApplicationInfo.metadata mirror the labels of
// the Appspace widget developer guide in camelCase; exactly these are
// accepted, so that a misspelt optional field is reported instead of silently
// ignored.
const (
	fName, fApplicationName, fAuthType, fIsCustom, fInfo, fMetadata = "name", "applicationName", "authenticationType", "isCustomApplication", "customApplicationInfo", "metadata"

	fDisplayName, fDescription, fCategory, fParentName = "displayName", "description", "categoryType", "parentName"

	fClientID, fClientSecret, fAuthURL, fTokenURL     = "clientId", "clientSecret", "authenticationUrl", "tokenUrl"
	fProfileURL, fEmailPath, fIDPath, fNamePath       = "profileUrl", "profileAccountEmailPath", "profileAccountIdPath", "profileAccountNamePath"
	fDefaultEmail, fDefaultID, fDefaultName           = "defaultProfileAccountEmail", "defaultProfileAccountId", "defaultProfileAccountName"
	fScope, fScopeSeparator, fReference               = "scope", "scopeSeparator", "referenceApplicationName"
	fParamsMapper, fRequiredMetadata, fIDTokenProfile = "authenticationParamsMapper", "requiredAuthenticationMetadata", "extractProfileFromIdToken"
	fRefreshType, fRefreshValue                       = "refreshType", "refreshValue"
	fRevocationURL                                    = "revocationUrl" // widgetgate extension: RFC 7009 endpoint
	authTypeOAuth, customApplication                  = "OAuth", "custom"
)

var (
	topFields   = []string{fName, fApplicationName, fAuthType, fIsCustom, fInfo, fMetadata}
	infoFields  = []string{fName, fDisplayName, fDescription, fCategory, fAuthType, fParentName, fMetadata}
	oauthFields = []string{
		fClientID, fClientSecret, fAuthURL, fTokenURL,
		fProfileURL, fEmailPath, fIDPath, fNamePath,
		fDefaultEmail, fDefaultID, fDefaultName,
		fScope, fScopeSeparator, fReference,
		fParamsMapper, fRequiredMetadata, fIDTokenProfile,
		fRefreshType, fRefreshValue, fRevocationURL,
	}
)

// ParseCustom parses and validates a custom passport file (the Custom
// Passport JSON Reference of the Appspace widget developer guide) and returns
// its provider, named "custom:"+customApplicationInfo.name. file names the
// file in errors and becomes Provider.Source.
//
// Every rule is checked and every violation reported (see FieldError);
// duplicate keys and data after the document are refused. A clientSecret of
// the form "vault:<path>#<field>" sets ClientSecretRef; any other value is a
// literal ClientSecret, which the caller must import into Vault.
func ParseCustom(file string, raw []byte) (*Provider, error) {
	if len(raw) > MaxPassportSize {
		return nil, &FieldError{File: file, Msg: fmt.Sprintf("larger than %d bytes", MaxPassportSize)}
	}
	if err := checkJSONStructure(raw); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			fe.File = file
			return nil, fe
		}
		return nil, &FieldError{File: file, Err: err, Msg: "not a valid passport file"}
	}
	v := &validator{file: file}
	p := v.passport(raw)
	if len(v.errs) > 0 {
		if len(v.errs) == 1 {
			return nil, v.errs[0]
		}
		return nil, errors.Join(v.errs...)
	}
	return p, nil
}

// validator collects every problem of one file.
type validator struct {
	file string
	errs []error
}

func (v *validator) fail(field, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{File: v.file, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) wrap(field, msg string, err error) {
	v.errs = append(v.errs, &FieldError{File: v.file, Field: field, Msg: msg, Err: err})
}

// fields is one JSON object of the document and its path.
type fields struct {
	path string
	m    map[string]json.RawMessage
}

func (f fields) at(key string) string { return joinPath(f.path, key) }

// get returns the raw value of key; JSON null counts as absent, which is how
// exports write an unset field.
func (f fields) get(key string) (json.RawMessage, bool) {
	raw, ok := f.m[key]
	if !ok || string(raw) == "null" {
		return nil, false
	}
	return raw, true
}

// object decodes raw as a JSON object.
func (v *validator) object(path string, raw json.RawMessage) (fields, bool) {
	var m map[string]json.RawMessage
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
		v.fail(path, "must be a JSON object")
		return fields{}, false
	}
	return fields{path: path, m: m}, true
}

// requireObject reads a required object field.
func (v *validator) requireObject(f fields, key string) (fields, bool) {
	raw, ok := f.get(key)
	if !ok {
		v.fail(f.at(key), "required")
		return fields{}, false
	}
	return v.object(f.at(key), raw)
}

// unknown reports every key of f that is not in allowed, sorted so errors
// come out in a stable order.
func (v *validator) unknown(f fields, allowed []string) {
	var extra []string
	for k := range f.m {
		if !slices.Contains(allowed, k) {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	for _, k := range extra {
		msg := "unknown field"
		for _, a := range allowed {
			if strings.EqualFold(a, k) {
				msg += fmt.Sprintf(" (did you mean %q?)", a)
				break
			}
		}
		v.fail(f.at(k), "%s", msg)
	}
}

// str reads a string field. A required one must be present and not blank;
// an optional one that is absent, null or "" yields ok=false.
func (v *validator) str(f fields, key string, required bool) (s string, ok bool) {
	raw, present := f.get(key)
	if present && json.Unmarshal(raw, &s) != nil {
		v.fail(f.at(key), "must be a string")
		return "", false
	}
	if strings.TrimSpace(s) == "" {
		if required {
			if present {
				v.fail(f.at(key), "required: must not be empty")
			} else {
				v.fail(f.at(key), "required")
			}
		}
		return "", false
	}
	return s, true
}

// exact reads a required string field that must have one value.
func (v *validator) exact(f fields, key, want string) (string, bool) {
	s, ok := v.str(f, key, true)
	if ok && s != want {
		v.fail(f.at(key), "must be %q, got %q", want, s)
		return s, false
	}
	return s, ok
}

// passport validates the whole document.
func (v *validator) passport(raw []byte) *Provider {
	top, ok := v.object("", raw)
	if !ok {
		return nil
	}
	v.unknown(top, topFields)

	// AuthStyle stays AuthStyleAutoDetect unless a reference says otherwise:
	// the Appspace widget developer guide has no field for it, and oauth2
	// then tries Basic (which RFC 6749 section 2.3.1 obliges servers to
	// support) before falling back to the body.
	p := &Provider{Kind: KindOAuth2, PKCE: true, ScopeSeparator: " ", Source: v.file}
	v.str(top, fName, true)
	v.exact(top, fApplicationName, customApplication)
	authType, authOK := v.authType(top)
	if raw, ok := top.get(fIsCustom); !ok {
		v.fail(top.at(fIsCustom), "required")
	} else if string(raw) != "true" {
		v.fail(top.at(fIsCustom), "must be true")
	}
	// Top-level metadata is "additional metadata (typically empty)": any
	// object is accepted and none of it is used.
	v.requireObject(top, fMetadata)

	info, ok := v.requireObject(top, fInfo)
	if !ok {
		return p
	}
	v.unknown(info, infoFields)
	if name, ok := v.str(info, fName, true); ok {
		switch {
		case strings.HasPrefix(name, CustomPrefix):
			v.fail(info.at(fName), "must not include the %q prefix: passportProvider %q is made from it", CustomPrefix, CustomPrefix+"<name>")
		case len(name) > maxCustomName:
			v.fail(info.at(fName), "must be at most %d characters", maxCustomName)
		case !customName.MatchString(name):
			v.fail(info.at(fName), "%q is not a kebab-case identifier (lowercase letters and digits, separated by single '-')", name)
		default:
			p.Name = CustomPrefix + name
		}
	}
	p.DisplayName, _ = v.str(info, fDisplayName, true)
	// The Custom Passport modal makes the description optional, so an
	// exported passport may carry "": the key is required, its text not.
	if raw, ok := info.get(fDescription); !ok {
		v.fail(info.at(fDescription), "required")
	} else if json.Unmarshal(raw, new(string)) != nil {
		v.fail(info.at(fDescription), "must be a string")
	}
	if c, ok := v.str(info, fCategory, true); ok {
		if !slices.Contains(categories, c) {
			v.fail(info.at(fCategory), "%q is not a category: want one of %s", c, strings.Join(categories, ", "))
		} else {
			p.Category = c
		}
	}
	if t, ok := v.str(info, fAuthType, true); ok && authOK && t != authType {
		v.fail(info.at(fAuthType), "must match the top-level %s %q, got %q", fAuthType, authType, t)
	}
	v.exact(info, fParentName, customApplication)

	meta, ok := v.requireObject(info, fMetadata)
	if !ok || !authOK {
		// Without a supported authentication type there is no telling
		// which metadata fields apply.
		return p
	}
	v.oauthMetadata(meta, p)
	return p
}

// authType reads the top-level authenticationType; ok is false when it is
// missing or unsupported.
func (v *validator) authType(top fields) (string, bool) {
	t, ok := v.str(top, fAuthType, true)
	if !ok {
		return "", false
	}
	if t != authTypeOAuth {
		v.fail(top.at(fAuthType), "unsupported authentication type %q: only %q is supported", t, authTypeOAuth)
		return t, false
	}
	return t, true
}

// oauthMetadata validates customApplicationInfo.metadata for OAuth and
// fills p.
func (v *validator) oauthMetadata(m fields, p *Provider) {
	v.unknown(m, oauthFields)

	if id, ok := v.str(m, fClientID, true); ok {
		if id != strings.TrimSpace(id) {
			v.fail(m.at(fClientID), "must not have leading or trailing spaces")
		} else {
			p.ClientID = id
		}
	}
	v.clientSecret(m, p)

	// A reference supplies defaults, so it is read before the URLs.
	var ref *Provider
	if name, ok := v.str(m, fReference, false); ok {
		b, found := Builtin(name)
		switch {
		case !found:
			v.fail(m.at(fReference), "%q is not a built-in provider", name)
		case b.Kind != KindOAuth2:
			v.fail(m.at(fReference), "%q is not an OAuth built-in provider", name)
		default:
			ref = b
			p.AuthStyle = b.AuthStyle
			p.AuthParams = b.AuthParams
			p.ScopeSeparator = b.ScopeSeparator
		}
	}
	p.AuthURL = v.endpoint(m, fAuthURL, ref, func(b *Provider) string { return b.AuthURL })
	p.TokenURL = v.endpoint(m, fTokenURL, ref, func(b *Provider) string { return b.TokenURL })
	if s, ok := v.str(m, fProfileURL, false); ok {
		if err := CheckEndpointURL(s); err != nil {
			v.wrap(m.at(fProfileURL), "invalid URL", err)
		} else {
			p.ProfileURL = s
		}
	}

	for _, jp := range []struct {
		key string
		dst *string
	}{{fEmailPath, &p.ProfileEmailPath}, {fIDPath, &p.ProfileIDPath}, {fNamePath, &p.ProfileNamePath}} {
		if s, ok := v.str(m, jp.key, false); ok {
			if err := checkJSONPath(s); err != nil {
				v.wrap(m.at(jp.key), "not a valid JSONPath expression", err)
			} else {
				*jp.dst = s
			}
		}
	}
	p.DefaultEmail, _ = v.str(m, fDefaultEmail, false)
	p.DefaultID, _ = v.str(m, fDefaultID, false)
	p.DefaultName, _ = v.str(m, fDefaultName, false)

	if raw, ok := m.get(fScopeSeparator); ok {
		var sep string
		switch {
		case json.Unmarshal(raw, &sep) != nil:
			v.fail(m.at(fScopeSeparator), "must be a string")
		case sep == "":
			// Not trimmed: " " is the usual separator.
			v.fail(m.at(fScopeSeparator), "must not be empty (omit it for the default, a space)")
		case len(sep) > maxScopeSeparator:
			v.fail(m.at(fScopeSeparator), "must be at most %d bytes", maxScopeSeparator)
		case strings.ContainsFunc(sep, func(r rune) bool { return r < ' ' || r == 0x7f }):
			v.fail(m.at(fScopeSeparator), "must not contain control characters")
		default:
			p.ScopeSeparator = sep
		}
	}
	if s, ok := v.str(m, fScope, false); ok {
		p.Scopes = splitList(s, p.ScopeSeparator)
	}

	if s, ok := v.str(m, fRevocationURL, false); ok {
		if err := CheckEndpointURL(s); err != nil {
			v.wrap(m.at(fRevocationURL), "invalid URL", err)
		} else {
			p.RevocationURL = s
		}
	}
	p.ParamsMapper = v.paramsMapper(m)
	if s, ok := v.str(m, fRequiredMetadata, false); ok {
		p.RequiredMetadata = splitList(s, ",")
	}
	if raw, ok := m.get(fIDTokenProfile); ok {
		if err := json.Unmarshal(raw, &p.ProfileFromIDToken); err != nil {
			v.fail(m.at(fIDTokenProfile), "must be true or false")
		}
	}
	p.Refresh = v.refresh(m)
}

// clientSecret reads the secret, as a literal or a Vault reference. No
// message here ever includes the value.
func (v *validator) clientSecret(m fields, p *Provider) {
	s, ok := v.str(m, fClientSecret, true)
	if !ok {
		return
	}
	if IsSecretRef(s) {
		if _, _, err := SplitSecretRef(s); err != nil {
			v.wrap(m.at(fClientSecret), "malformed Vault reference", err)
			return
		}
		p.ClientSecretRef = s
		return
	}
	if s != strings.TrimSpace(s) {
		v.fail(m.at(fClientSecret), "must not have leading or trailing spaces")
		return
	}
	p.ClientSecret = s
}

// endpoint reads authenticationUrl or tokenUrl: required unless a reference
// provider supplies it.
func (v *validator) endpoint(m fields, key string, ref *Provider, inherit func(*Provider) string) string {
	s, ok := v.str(m, key, ref == nil)
	if !ok {
		if ref == nil {
			return "" // str reported it
		}
		if u := inherit(ref); u != "" {
			return u
		}
		v.fail(m.at(key), "required: %s %q has no fixed URL to inherit", fReference, ref.Name)
		return ""
	}
	if err := CheckEndpointURL(s); err != nil {
		v.wrap(m.at(key), "invalid URL", err)
		return ""
	}
	return s
}

// paramsMapper reads authenticationParamsMapper: a JSON object of strings,
// or a string holding one (the developer guide's UI field takes JSON text).
func (v *validator) paramsMapper(m fields) map[string]string {
	path := m.at(fParamsMapper)
	raw, ok := m.get(fParamsMapper)
	if !ok {
		return nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			v.fail(path, "must be a JSON object or a string holding one")
			return nil
		}
		s = strings.TrimSpace(s)
		if s == "" {
			return nil
		}
		// The embedded document gets the same duplicate-key and
		// trailing-data checks as the file.
		if err := checkJSONStructure([]byte(s)); err != nil {
			v.wrap(path, "string is not a JSON object", err)
			return nil
		}
		raw = json.RawMessage(s)
	}
	obj, ok := v.object(path, raw)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(obj.m))
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range obj.m {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		var s string
		switch {
		case strings.TrimSpace(k) == "":
			v.fail(path, "keys must not be empty")
		case json.Unmarshal(obj.m[k], &s) != nil:
			v.fail(obj.at(k), "must be a string")
		default:
			out[k] = s
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// refresh reads refreshType and refreshValue.
func (v *validator) refresh(m fields) RefreshPolicy {
	var pol RefreshPolicy
	typeOK := true
	if s, ok := v.str(m, fRefreshType, false); ok {
		t, err := ParseRefreshType(s)
		if err != nil {
			v.wrap(m.at(fRefreshType), "invalid", err)
			typeOK = false
		}
		pol.Type = t
	}
	minutes, hasValue, valueOK := v.refreshMinutes(m)
	if !typeOK || !valueOK {
		return RefreshPolicy{}
	}
	switch pol.Type {
	case RefreshBeforeExpiry, RefreshPeriodically:
		if !hasValue {
			v.fail(m.at(fRefreshValue), "required when %s is %q", fRefreshType, pol.Type)
			return RefreshPolicy{}
		}
		pol.Every = time.Duration(minutes) * time.Minute
	case RefreshNone:
		if hasValue {
			v.fail(m.at(fRefreshValue), "must be omitted when %s is %q", fRefreshType, pol.Type)
			return RefreshPolicy{}
		}
	case RefreshUnset:
		if hasValue {
			v.fail(m.at(fRefreshValue), "needs %s %q or %q", fRefreshType, RefreshBeforeExpiry, RefreshPeriodically)
			return RefreshPolicy{}
		}
	}
	return pol
}

// refreshMinutes reads refreshValue, a number of minutes written as a JSON
// number or a numeric string. present is false when it is absent, null or
// ""; ok is false when it is present but invalid (already reported).
func (v *validator) refreshMinutes(m fields) (minutes int64, present, ok bool) {
	path := m.at(fRefreshValue)
	raw, found := m.get(fRefreshValue)
	if !found {
		return 0, false, true
	}
	text := string(raw)
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			v.fail(path, "must be a number of minutes")
			return 0, true, false
		}
		if text = strings.TrimSpace(s); text == "" {
			return 0, false, true
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
	default:
		v.fail(path, "must be a number of minutes")
		return 0, true, false
	}
	f, err := strconv.ParseFloat(text, 64)
	switch {
	case err != nil || math.IsNaN(f) || math.IsInf(f, 0):
		v.fail(path, "must be a number of minutes")
	case f != math.Trunc(f):
		v.fail(path, "must be a whole number of minutes")
	case f < MinRefreshMinutes:
		v.fail(path, "must be at least %d minutes", MinRefreshMinutes)
	case f > maxRefreshMinutes:
		v.fail(path, "must be at most %d minutes", maxRefreshMinutes)
	default:
		return int64(f), true, true
	}
	return 0, true, false
}

// splitList splits s at sep, trims each item and drops empty and repeated
// ones.
func splitList(s, sep string) []string {
	var out []string
	for item := range strings.SplitSeq(s, sep) {
		item = strings.TrimSpace(item)
		if item != "" && !slices.Contains(out, item) {
			out = append(out, item)
		}
	}
	return out
}

// joinPath appends key to a JSON path: ".key" for plain names, `["key"]`
// otherwise, so any key can be told apart in an error.
func joinPath(path, key string) string {
	plain := key != "" && strings.IndexFunc(key, func(r rune) bool {
		return !(r == '_' || r == '-' || r == ':' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
	}) < 0
	switch {
	case !plain:
		return fmt.Sprintf("%s[%q]", path, key)
	case path == "":
		return key
	default:
		return path + "." + key
	}
}

// checkJSONStructure refuses what encoding/json alone accepts silently:
// duplicate keys (the last would win, so a second "tokenUrl" could hide
// behind the one a reviewer reads), deep nesting and data after the
// document, which must be an object. Keys differing only in case are not
// refused here: the validator reads fields by their exact names and
// reports unknown ones, with a hint for case slips.
func checkJSONStructure(data []byte) error {
	err := strictjson.Check(data, strictjson.Options{Object: true, Single: true})
	var se *strictjson.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return structureError(se)
	case errors.Is(err, strictjson.ErrNotObject), errors.Is(err, strictjson.ErrTrailing):
		return err
	default:
		return jsonError(err)
	}
}

// structureError names the field of a strictjson problem the way the
// validator's errors do: joinPath's keys and [i] for array positions.
func structureError(se *strictjson.Error) *FieldError {
	path := ""
	for _, s := range se.Path {
		if s.InArray {
			path = fmt.Sprintf("%s[%d]", path, s.Index)
		} else {
			path = joinPath(path, s.Key)
		}
	}
	if se.Problem == strictjson.TooDeep {
		return &FieldError{Field: path, Msg: fmt.Sprintf("nested more than %d levels deep", strictjson.MaxDepth)}
	}
	return &FieldError{Field: joinPath(path, se.Key), Msg: "duplicate key"}
}

// jsonError words a decoder error with its byte offset.
func jsonError(err error) error {
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at byte %d: %w", se.Offset, err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("invalid JSON: unexpected end of document: %w", err)
	}
	return fmt.Errorf("invalid JSON: %w", err)
}
