package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

// configSchema is a config-only widget: no authentication, every field type.
const configSchema = `{"authentications": [], "authenticatedApis": [], "configuration": {"fields": [
  {"name": "title", "type": "text", "label": "Title", "group": "Display", "default": "Lobby", "validation": {"required": true, "maxLength": 20}},
  {"name": "notes", "type": "textbox", "description": "Shown under the title"},
  {"name": "rows", "type": "number", "default": 5, "validation": {"min": 1, "max": 50}},
  {"name": "compact", "type": "boolean", "default": false},
  {"name": "accent", "type": "colorPicker", "default": "#1a73e8"},
  {"name": "room", "type": "select", "options": ["north", {"label": "South wing", "value": "south"}], "validation": {"required": true}},
  {"name": "link", "type": "url"},
  {"name": "day", "type": "date"},
  {"name": "opens", "type": "time"},
  {"name": "layout", "type": "mediaPicker"}
]}}`

func loadConfig(t *testing.T, schemaJSON string) (*Widget, error) {
	t.Helper()
	return LoadFS("w", "w", fstest.MapFS{"schema.json": {Data: []byte(schemaJSON)}}, Options{})
}

func TestConfigurationLoads(t *testing.T) {
	w, err := loadConfig(t, configSchema)
	if err != nil {
		t.Fatal(err)
	}
	c := w.Configuration
	if len(c.Fields) != 10 {
		t.Fatalf("%d fields, want 10", len(c.Fields))
	}
	title := c.Field("title")
	if title.Label != "Title" || title.Group != "Display" || title.Default != "Lobby" || !title.Required || title.MaxLength != 20 {
		t.Errorf("title = %+v", title)
	}
	if got := c.Field("rows").Default; got != 5.0 {
		t.Errorf("rows default = %#v, want 5.0", got)
	}
	if got := c.Field("room").Options; !reflect.DeepEqual(got, []Option{{"north", "north"}, {"South wing", "south"}}) {
		t.Errorf("room options = %+v", got)
	}
	if l := c.Field("layout"); l.Known || !c.Field("title").Known {
		t.Errorf("layout Known = %v, title Known = %v: an unknown type is kept, marked unknown", l.Known, c.Field("title").Known)
	}
}

func TestConfigurationSchemaErrors(t *testing.T) {
	field := func(f string) string {
		return `{"authentications": [], "authenticatedApis": [], "configuration": {"fields": [` + f + `]}}`
	}
	for _, tc := range []struct {
		name, schema, want string
	}{
		{"no name", field(`{"type": "text"}`), "configuration.fields[0].name"},
		{"bad name", field(`{"name": "a b", "type": "text"}`), "configuration.fields[0] (a b).name"},
		{"no type", field(`{"name": "a"}`), "configuration.fields[0] (a).type: required"},
		{"duplicate", field(`{"name": "a", "type": "text"}, {"name": "a", "type": "number"}`), `configuration.fields[1] (a).name: "a" is used by another field`},
		{"bad default", field(`{"name": "a", "type": "number", "default": "five"}`), "configuration.fields[0] (a).default: must be a number"},
		{"default out of range", field(`{"name": "a", "type": "number", "default": 9, "validation": {"max": 3}}`), "above the maximum"},
		{"select without options", field(`{"name": "a", "type": "select"}`), "a select needs at least one option"},
		{"options on text", field(`{"name": "a", "type": "text", "options": ["x"]}`), "options apply to select fields"},
		{"duplicate option", field(`{"name": "a", "type": "select", "options": ["x", "x"]}`), `value "x" is listed twice`},
		{"default not an option", field(`{"name": "a", "type": "select", "options": ["x"], "default": "y"}`), `"y" is not one of the options`},
		{"min above max", field(`{"name": "a", "type": "number", "validation": {"min": 5, "max": 1}}`), "is below min"},
		{"range on text", field(`{"name": "a", "type": "text", "validation": {"min": 1}}`), "min and max apply to number fields"},
		{"maxLength on number", field(`{"name": "a", "type": "number", "validation": {"maxLength": 3}}`), "validation.maxLength"},
		{"bad colour default", field(`{"name": "a", "type": "colorPicker", "default": "red"}`), "must be a colour"},
		{"javascript url default", field(`{"name": "a", "type": "url", "default": "javascript:alert(1)"}`), "absolute http or https URL"},
		{"fields not a list", `{"authentications": [], "authenticatedApis": [], "configuration": {"fields": {}}}`, "expected []schema.FieldSpec"},
		{"too many", field(strings.TrimSuffix(strings.Repeat(`{"name": "a", "type": "text"},`, MaxConfigFields+1), ",")), "at most 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(t, tc.schema)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			var es Errors
			if !errors.As(err, &es) && !strings.Contains(tc.name, "not a list") {
				t.Errorf("error %T is not Errors", err)
			}
		})
	}
}

func TestConfigurationCheck(t *testing.T) {
	w, err := loadConfig(t, configSchema)
	if err != nil {
		t.Fatal(err)
	}
	c := w.Configuration
	good := map[string]any{"title": "Main hall", "rows": json.Number("12"), "compact": true, "accent": "#fff",
		"room": "south", "link": "https://example.com/x", "day": "2026-12-03", "opens": "08:30", "notes": "two\nlines", "layout": "anything"}
	out, errs := c.Check(good)
	if errs != nil {
		t.Fatalf("good values refused: %+v", errs)
	}
	if out["rows"] != 12.0 || out["title"] != "Main hall" || out["compact"] != true {
		t.Errorf("stored form = %#v", out)
	}
	out, _ = c.Check(map[string]any{"room": "north", "title": "", "accent": ""})
	if !reflect.DeepEqual(out, map[string]any{"room": "north"}) {
		t.Errorf("emptied fields were stored: %#v", out)
	}
	if got := c.Effective(map[string]any{"title": ""})["title"]; got.Value != "Lobby" {
		t.Errorf("a stored empty title hides the default: %#v", got)
	}

	for _, tc := range []struct {
		name   string
		values map[string]any
		want   []ValueError
	}{
		{"required without default", map[string]any{}, []ValueError{{"room", "required"}}},
		{"required blanked, default kept", map[string]any{"room": "north", "title": ""}, nil},
		{"required blanked, no default", map[string]any{"room": ""}, []ValueError{{"room", "required"}}},
		{"emptied fields of any type are unset", map[string]any{"room": "north", "accent": "", "day": "", "link": "", "rows": nil}, nil},
		{"one problem per field", map[string]any{
			"room": "east", "rows": 0.5, "compact": "yes", "accent": "blue", "title": strings.Repeat("x", 21),
			"link": "data:text/html,x", "day": "03/12/2026", "opens": "8h", "unknown": 1, "notes": "a\x00b",
		}, []ValueError{
			{"unknown", "the widget declares no such field"},
			{"title", "21 characters; at most 20"},
			{"notes", "holds a control character at byte 1"},
			{"rows", "0.5 is below the minimum, 1"},
			{"compact", "must be true or false, not text"},
			{"accent", `must be a colour such as "#1a73e8"`},
			{"room", `"east" is not one of the options`},
			{"link", "must be an absolute http or https URL of at most 2048 bytes"},
			{"day", "must be a date as YYYY-MM-DD"},
			{"opens", "must be a time as HH:MM"},
		}},
		{"text gets a number", map[string]any{"room": "north", "title": 5.0}, []ValueError{{"title", "must be text, not a number"}}},
		{"single-line text refuses a newline", map[string]any{"room": "north", "title": "a\nb"}, []ValueError{{"title", "holds a control character at byte 1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := c.Check(tc.values)
			if !reflect.DeepEqual(errs, tc.want) {
				t.Errorf("errors =\n%+v\nwant\n%+v", errs, tc.want)
			}
		})
	}
}

func TestConfigurationSizeBound(t *testing.T) {
	var fields []string
	for i := range 6 {
		fields = append(fields, fmt.Sprintf(`{"name": "f%d", "type": "textbox"}`, i))
	}
	w, err := loadConfig(t, `{"authentications": [], "authenticatedApis": [], "configuration": {"fields": [`+strings.Join(fields, ",")+`]}}`)
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]any{}
	for i := range 6 {
		values[fmt.Sprintf("f%d", i)] = strings.Repeat("z", maxTextValue) // each allowed, together over MaxConfigBytes
	}
	_, errs := w.Configuration.Check(values)
	if len(errs) != 1 || !strings.Contains(errs[0].Message, "at most 65536") {
		t.Fatalf("errors = %+v, want one saying the whole is too big", errs)
	}
}

func TestConfigurationEffective(t *testing.T) {
	w, err := loadConfig(t, configSchema)
	if err != nil {
		t.Fatal(err)
	}
	c := w.Configuration
	// As read back from Vault: numbers are json.Number, and one value no
	// longer fits (the package changed after it was set).
	stored := map[string]any{"title": "Atrium", "rows": json.Number("7"), "room": "west", "gone": "x"}
	got := c.Effective(stored)
	want := map[string]FieldValue{
		"title": {"Atrium"}, "notes": {nil}, "rows": {7.0}, "compact": {false}, "accent": {"#1a73e8"},
		"room": {nil}, "link": {nil}, "day": {nil}, "opens": {nil}, "layout": {nil},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Effective =\n%#v\nwant\n%#v", got, want)
	}
	if cur := c.Current(stored); !reflect.DeepEqual(cur, map[string]any{"title": "Atrium", "rows": 7.0}) {
		t.Errorf("Current = %#v", cur)
	}
	var none *Configuration
	if len(none.Effective(stored)) != 0 || none.Field("title") != nil {
		t.Error("a nil configuration has fields")
	}
}
