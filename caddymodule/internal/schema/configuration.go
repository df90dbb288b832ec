package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of a widget's configuration. Configuration is not secret, but it
// is stored in Vault per instance and sent to every screen showing the
// widget, so it is kept small.
const (
	// MaxConfigFields bounds how many fields a schema may declare.
	MaxConfigFields = 100
	// MaxConfigBytes bounds one instance's stored values, as JSON.
	MaxConfigBytes = 64 << 10
	// maxTextValue bounds a text value when the field sets no maxLength.
	maxTextValue = 16 << 10
)

// ConfigurationSpec is schema.json's "configuration": the fields an
// administrator fills in per widget instance.
type ConfigurationSpec struct {
	Fields []FieldSpec `json:"fields"`
}

// FieldSpec is one configuration field as written in schema.json.
type FieldSpec struct {
	Name        string          `json:"name"`
	Type        string          `json:"type"`
	Label       string          `json:"label,omitempty"`
	Description string          `json:"description,omitempty"`
	Group       string          `json:"group,omitempty"`
	Placeholder string          `json:"placeholder,omitempty"`
	Default     json.RawMessage `json:"default,omitempty"`
	// Options are a select's choices: {"label", "value"} objects or plain
	// strings (label and value alike).
	Options    []Option        `json:"options,omitempty"`
	Validation *ValidationSpec `json:"validation,omitempty"`
}

// ValidationSpec is a field's "validation" object.
type ValidationSpec struct {
	Required  bool     `json:"required,omitempty"`
	Min       *float64 `json:"min,omitempty"`
	Max       *float64 `json:"max,omitempty"`
	MaxLength int      `json:"maxLength,omitempty"`
}

// Option is one choice of a select field.
type Option struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// UnmarshalJSON reads an option written as an object or as a plain string.
func (o *Option) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*o = Option{Label: s, Value: s}
		return nil
	}
	type plain Option
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return errors.New("an option is a string or an object {\"label\", \"value\"} of strings")
	}
	if p.Label == "" {
		p.Label = p.Value
	}
	*o = Option(p)
	return nil
}

// Configuration is a widget's compiled configuration fields, in schema
// order. Its zero value has no fields.
type Configuration struct {
	Fields []*Field
}

// Field is a compiled configuration field. Its type's rules (fieldType)
// check every value written for it, its default included.
type Field struct {
	Name        string
	Type        string
	Label       string
	Description string
	Group       string
	Placeholder string
	// Default is the value used while the instance sets none; nil when
	// the schema gives no default.
	Default   any
	Options   []Option
	Required  bool
	Min, Max  *float64
	MaxLength int
	// Known reports whether widgetgate knows the type; an unknown one is
	// kept as opaque text.
	Known bool

	kind fieldType
}

// fieldType is what a field's type allows. Each type is one value in
// fieldTypes; a type widgetgate does not know is handled as opaque text.
type fieldType interface {
	// check returns v in its stored form, or why it is not a value of f.
	check(f *Field, v any) (any, error)
	// takesLength, takesRange, takesOptions say which validation keys and
	// options the type understands (from its takes).
	takesLength() bool
	takesRange() bool
	takesOptions() bool
}

// takes says which validation keys and options a field type understands;
// each type embeds one.
type takes struct{ length, rng, options bool }

func (t takes) takesLength() bool  { return t.length }
func (t takes) takesRange() bool   { return t.rng }
func (t takes) takesOptions() bool { return t.options }

// fieldTypes are the field types of the widget developer guide's
// configuration, plus url, date and time.
var fieldTypes = map[string]fieldType{
	"text":        textType{takes: takes{length: true}},
	"textbox":     textType{takes: takes{length: true}, multiline: true},
	"number":      numberType{takes: takes{rng: true}},
	"boolean":     booleanType{},
	"colorPicker": patternType{re: regexp.MustCompile(`^#(?:[0-9A-Fa-f]{3,4}|[0-9A-Fa-f]{6}|[0-9A-Fa-f]{8})$`), want: `a colour such as "#1a73e8"`},
	"select":      selectType{takes: takes{options: true}},
	"url":         urlType{takes: takes{length: true}},
	"date":        layoutType{layout: time.DateOnly, want: "a date as YYYY-MM-DD"},
	"time":        layoutType{layout: "15:04", want: "a time as HH:MM"},
}

var fieldName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// ConfigField names the configuration field at index i in problems.
func ConfigField(i int, name string) string {
	if name == "" {
		return fmt.Sprintf("configuration.fields[%d]", i)
	}
	return fmt.Sprintf("configuration.fields[%d] (%s)", i, name)
}

// compileConfiguration checks spec, recording each problem in c; a field
// with a problem is left out.
func compileConfiguration(spec *ConfigurationSpec, file string, c *collector) *Configuration {
	cfg := &Configuration{}
	if spec == nil {
		return cfg
	}
	if len(spec.Fields) > MaxConfigFields {
		c.add(file, "configuration.fields", fmt.Errorf("%d fields; at most %d", len(spec.Fields), MaxConfigFields))
		return cfg
	}
	seen := map[string]bool{}
	for i, fs := range spec.Fields {
		field := ConfigField(i, fs.Name)
		before := len(c.errs)
		f := compileField(fs, func(sub string, err error) { c.add(file, joinField(field, sub), err) })
		if fieldName.MatchString(fs.Name) {
			if seen[fs.Name] {
				c.add(file, field+".name", fmt.Errorf("%q is used by another field", fs.Name))
			}
			seen[fs.Name] = true
		}
		if len(c.errs) == before {
			cfg.Fields = append(cfg.Fields, f)
		}
	}
	return cfg
}

func compileField(fs FieldSpec, fail func(sub string, err error)) *Field {
	f := &Field{Name: fs.Name, Type: fs.Type, Label: fs.Label, Description: fs.Description, Group: fs.Group,
		Placeholder: fs.Placeholder, Options: fs.Options}
	if !fieldName.MatchString(fs.Name) {
		fail("name", fmt.Errorf("%q: 1 to 64 letters, digits, '_' or '-', starting with a letter", fs.Name))
	}
	if fs.Type == "" {
		fail("type", errors.New("required"))
	}
	f.kind, f.Known = fieldTypes[fs.Type]
	if !f.Known {
		f.kind = fieldTypes["textbox"]
	}
	for _, t := range []struct{ sub, s string }{{"label", fs.Label}, {"description", fs.Description}, {"group", fs.Group}, {"placeholder", fs.Placeholder}} {
		if len(t.s) > 1000 {
			fail(t.sub, errors.New("longer than 1000 bytes"))
		}
	}
	if v := fs.Validation; v != nil {
		f.Required, f.Min, f.Max, f.MaxLength = v.Required, v.Min, v.Max, v.MaxLength
		if v.MaxLength != 0 && (!f.kind.takesLength() || v.MaxLength < 0 || v.MaxLength > maxTextValue) {
			fail("validation.maxLength", fmt.Errorf("must be 1 to %d, on a text field", maxTextValue))
		}
		if (v.Min != nil || v.Max != nil) && !f.kind.takesRange() {
			fail("validation", fmt.Errorf("min and max apply to number fields, not %s", fs.Type))
		}
		if v.Min != nil && v.Max != nil && *v.Min > *v.Max {
			fail("validation.max", fmt.Errorf("%v is below min %v", *v.Max, *v.Min))
		}
	}
	switch {
	case f.kind.takesOptions() && len(fs.Options) == 0:
		fail("options", errors.New("a select needs at least one option"))
	case !f.kind.takesOptions() && len(fs.Options) > 0:
		fail("options", fmt.Errorf("options apply to select fields, not %s", fs.Type))
	}
	values := map[string]bool{}
	for j, o := range fs.Options {
		switch {
		case o.Value == "" || len(o.Value) > 256 || len(o.Label) > 256:
			fail(fmt.Sprintf("options[%d]", j), errors.New("value must be 1 to 256 bytes, label at most 256"))
		case values[o.Value]:
			fail(fmt.Sprintf("options[%d]", j), fmt.Errorf("value %q is listed twice", o.Value))
		}
		values[o.Value] = true
	}
	if len(fs.Default) > 0 && string(fs.Default) != "null" {
		var d any
		if err := decodeNumbers(fs.Default, &d); err != nil {
			fail("default", err)
		} else if v, err := f.kind.check(f, d); err != nil {
			fail("default", err)
		} else {
			f.Default = v
		}
	}
	return f
}

// fields returns c's fields; a nil Configuration has none.
func (c *Configuration) fields() []*Field {
	if c == nil {
		return nil
	}
	return c.Fields
}

// Field returns the field named name, or nil.
func (c *Configuration) Field(name string) *Field {
	for _, f := range c.fields() {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// ValueError is one configuration value that is refused: which field, and
// why.
type ValueError struct {
	Field   string
	Message string
}

// Check validates values an administrator sets for an instance (field
// name → value; a null, empty or absent value is unset: the default
// applies) and returns them in stored form, or every problem, one per
// field.
func (c *Configuration) Check(values map[string]any) (map[string]any, []ValueError) {
	out := map[string]any{}
	var errs []ValueError
	for _, name := range sortedKeys(values) {
		if c.Field(name) == nil {
			errs = append(errs, ValueError{Field: name, Message: "the widget declares no such field"})
		}
	}
	for _, f := range c.fields() {
		if v := values[f.Name]; !isEmpty(v) {
			sv, err := f.kind.check(f, v)
			if err != nil {
				errs = append(errs, ValueError{Field: f.Name, Message: err.Error()})
				continue
			}
			out[f.Name] = sv
		}
		if f.Required && isEmpty(out[f.Name]) && isEmpty(f.Default) {
			errs = append(errs, ValueError{Field: f.Name, Message: "required"})
		}
	}
	if len(errs) == 0 {
		if b, _ := json.Marshal(out); len(b) > MaxConfigBytes {
			errs = append(errs, ValueError{Message: fmt.Sprintf("the configuration is %d bytes as JSON; at most %d", len(b), MaxConfigBytes)})
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// FieldValue is one entry of a widget's effective configuration, shaped
// as the Widget API's getConfiguration answers it.
type FieldValue struct {
	Value any `json:"value"`
}

// Effective is the configuration a widget instance sees: each field's
// stored value, else its default, else null. A stored value the field
// refuses now (the package changed since it was set) falls back too.
func (c *Configuration) Effective(stored map[string]any) map[string]FieldValue {
	out := make(map[string]FieldValue, len(c.fields()))
	for _, f := range c.fields() {
		v := f.Default
		if s := stored[f.Name]; !isEmpty(s) {
			if sv, err := f.kind.check(f, s); err == nil {
				v = sv
			}
		}
		out[f.Name] = FieldValue{Value: v}
	}
	return out
}

// Current returns the stored values the fields still take, leaving out
// any the package no longer declares or now refuses.
func (c *Configuration) Current(stored map[string]any) map[string]any {
	out := map[string]any{}
	for _, f := range c.fields() {
		if s := stored[f.Name]; !isEmpty(s) {
			if sv, err := f.kind.check(f, s); err == nil {
				out[f.Name] = sv
			}
		}
	}
	return out
}

// isEmpty reports whether v sets nothing: a form's emptied field is
// unset, whatever the field's type.
func isEmpty(v any) bool { return v == nil || v == "" }

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// decodeNumbers decodes JSON keeping numbers as json.Number, as values
// read back from Vault are.
func decodeNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// asString returns v as a string value of f, within its length limit.
func asString(f *Field, v any, multiline bool) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("must be text, not %s", jsonKind(v))
	}
	limit := maxTextValue
	if f.MaxLength > 0 {
		limit = f.MaxLength
	}
	if n := utf8.RuneCountInString(s); n > limit {
		return "", fmt.Errorf("%d characters; at most %d", n, limit)
	}
	if !utf8.ValidString(s) {
		return "", errors.New("not valid UTF-8")
	}
	if i := strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && r != '\t' && !(multiline && (r == '\n' || r == '\r'))
	}); i >= 0 {
		return "", fmt.Errorf("holds a control character at byte %d", i)
	}
	return s, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "text"
	case bool:
		return "a boolean"
	case float64, json.Number, int:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

type textType struct {
	takes
	multiline bool
}

func (t textType) check(f *Field, v any) (any, error) { return asString(f, v, t.multiline) }

type numberType struct{ takes }

func (numberType) check(f *Field, v any) (any, error) {
	var n float64
	switch x := v.(type) {
	case float64:
		n = x
	case int:
		n = float64(x)
	case json.Number:
		var err error
		if n, err = x.Float64(); err != nil {
			return nil, fmt.Errorf("%s is not a number this field can hold", x)
		}
	default:
		return nil, fmt.Errorf("must be a number, not %s", jsonKind(v))
	}
	switch {
	case math.IsNaN(n) || math.IsInf(n, 0):
		return nil, errors.New("must be a finite number")
	case f.Min != nil && n < *f.Min:
		return nil, fmt.Errorf("%v is below the minimum, %v", n, *f.Min)
	case f.Max != nil && n > *f.Max:
		return nil, fmt.Errorf("%v is above the maximum, %v", n, *f.Max)
	}
	return n, nil
}

type booleanType struct{ takes }

func (booleanType) check(_ *Field, v any) (any, error) {
	b, ok := v.(bool)
	if !ok {
		return nil, fmt.Errorf("must be true or false, not %s", jsonKind(v))
	}
	return b, nil
}

type selectType struct{ takes }

func (selectType) check(f *Field, v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("must be one of the options, not %s", jsonKind(v))
	}
	if !slices.ContainsFunc(f.Options, func(o Option) bool { return o.Value == s }) {
		return nil, fmt.Errorf("%q is not one of the options", truncate(s))
	}
	return s, nil
}

// patternType is a string in a fixed format.
type patternType struct {
	takes
	re   *regexp.Regexp
	want string
}

func (t patternType) check(_ *Field, v any) (any, error) {
	s, ok := v.(string)
	if !ok || !t.re.MatchString(s) {
		return nil, fmt.Errorf("must be %s", t.want)
	}
	return s, nil
}

// layoutType is a date or a time, as time.Parse reads layout.
type layoutType struct {
	takes
	layout, want string
}

func (t layoutType) check(_ *Field, v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("must be %s", t.want)
	}
	if _, err := time.Parse(t.layout, s); err != nil {
		return nil, fmt.Errorf("must be %s", t.want)
	}
	return s, nil
}

// urlType is an absolute http or https URL: a widget may show it as a
// link or load it, so no other scheme (javascript:, data:) gets in.
type urlType struct{ takes }

func (urlType) check(f *Field, v any) (any, error) {
	s, err := asString(f, v, false)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(s) > 2048 {
		return nil, errors.New("must be an absolute http or https URL of at most 2048 bytes")
	}
	return s, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
