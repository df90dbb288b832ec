package gateway

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

var testLimits = Limits{MaxBody: 64 << 10, MaxParams: 3, MaxName: 8, MaxValue: 16}

func TestBodyParams(t *testing.T) {
	tests := []struct {
		name, body string
		want       map[string]string
		code       string
	}{
		{"strings", `{"params": {"a": "x", "b": ""}}`, map[string]string{"a": "x", "b": ""}, ""},
		{"numbers keep their JSON text", `{"params": {"n": 42, "f": 2.5, "m": -7}}`, map[string]string{"n": "42", "f": "2.5", "m": "-7"}, ""},
		{"booleans", `{"params": {"t": true, "f": false}}`, map[string]string{"t": "true", "f": "false"}, ""},
		{"empty body", ``, map[string]string{}, ""},
		{"no params key", `{}`, map[string]string{}, ""},
		{"params null", `{"params": null}`, map[string]string{}, ""},
		{"null value", `{"params": {"a": null}}`, nil, "invalid_param"},
		{"object value", `{"params": {"a": {}}}`, nil, "invalid_param"},
		{"array value", `{"params": {"a": []}}`, nil, "invalid_param"},
		{"duplicate param", `{"params": {"a": "1", "a": "2"}}`, nil, "invalid_param"},
		{"duplicate params key", `{"params": {}, "params": {}}`, nil, "invalid_json"},
		{"method", `{"method": "DELETE"}`, nil, "override_not_allowed"},
		{"headers after params", `{"params": {}, "headers": {}}`, nil, "override_not_allowed"},
		{"not an object", `[]`, nil, "invalid_json"},
		{"params not an object", `{"params": "a=1"}`, nil, "invalid_json"},
		{"truncated", `{"params": {"a": "1"`, nil, "invalid_json"},
		{"trailing data", `{"params": {}} {}`, nil, "invalid_json"},
		{"too many params", `{"params": {"a": 1, "b": 2, "c": 3, "d": 4}}`, nil, "invalid_param"},
		{"name too long", `{"params": {"abcdefghi": 1}}`, nil, "invalid_param"},
		{"empty name", `{"params": {"": 1}}`, nil, "invalid_param"},
		{"value too long", `{"params": {"a": "` + strings.Repeat("x", 17) + `"}}`, nil, "invalid_param"},
		{"control char in name", `{"params": {"a\n": 1}}`, nil, "invalid_param"},
		{"CRLF in value", `{"params": {"a": "x\r\ny"}}`, nil, "invalid_param"},
		{"NUL in value", `{"params": {"a": "x\u0000"}}`, nil, "invalid_param"},
		{"invalid UTF-8 bytes", "{\"params\": {\"a\": \"\xff\"}}", nil, "invalid_param"},
		{"lone surrogate escape", `{"params": {"a": "\ud800"}}`, nil, "invalid_param"},
		{"surrogate pair is fine", `{"params": {"a": "\ud83d\ude00"}}`, map[string]string{"a": "😀"}, ""},
		{"a real U+FFFD is fine", `{"params": {"a": "\ufffd"}}`, map[string]string{"a": "\ufffd"}, ""},
		{"high surrogate then a letter", `{"params": {"a": "\ud83d\u0041"}}`, nil, "invalid_param"},
		{"low surrogate alone", `{"params": {"a": "\ude00"}}`, nil, "invalid_param"},
		{"lone surrogate in a name", `{"params": {"\ud800": "x"}}`, nil, "invalid_param"},
		{"escapes decode", `{"params": {"a": "\"\\\/\u00e9\u20AC"}}`, map[string]string{"a": `"\/é€`}, ""},
		{"escaped key names params", `{"par\u0061ms": {"a": "1"}}`, map[string]string{"a": "1"}, ""},
		{"whitespace everywhere", " \t\r\n{ \"params\" :\n{ \"a\" : 1 , \"b\":\"x\" } }\n", map[string]string{"a": "1", "b": "x"}, ""},
		{"number forms keep their text", `{"params": {"a": -0, "b": 1e5, "c": 2.50E-3}}`, map[string]string{"a": "-0", "b": "1e5", "c": "2.50E-3"}, ""},
		{"leading zero", `{"params": {"a": 01}}`, nil, "invalid_json"},
		{"bare minus", `{"params": {"a": -}}`, nil, "invalid_json"},
		{"fraction without digits", `{"params": {"a": 1.}}`, nil, "invalid_json"},
		{"exponent without digits", `{"params": {"a": 1e+}}`, nil, "invalid_json"},
		{"truncated literal", `{"params": {"a": tru}}`, nil, "invalid_json"},
		{"literal run-on", `{"params": {"a": truex}}`, nil, "invalid_json"},
		{"bad escape", `{"params": {"a": "\x"}}`, nil, "invalid_json"},
		{"bad hex", `{"params": {"a": "\u12g4"}}`, nil, "invalid_json"},
		{"raw control char in string", "{\"params\": {\"a\": \"x\ty\"}}", nil, "invalid_json"},
		{"missing comma", `{"params": {"a": "1" "b": "2"}}`, nil, "invalid_json"},
		{"trailing comma in params", `{"params": {"a": "1",}}`, nil, "invalid_json"},
		{"trailing comma at top", `{"params": {},}`, nil, "invalid_json"},
		{"missing colon", `{"params" {}}`, nil, "invalid_json"},
		{"unquoted key", `{params: {}}`, nil, "invalid_json"},
		{"unterminated string", `{"params": {"a": "x`, nil, "invalid_json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, p := bodyParams([]byte(tc.body), testLimits)
			if tc.code != "" {
				if p == nil || p.Code != tc.code {
					t.Fatalf("got %v, %v; want problem %s", got, p, tc.code)
				}
				return
			}
			if p != nil {
				t.Fatalf("unexpected problem %v", p)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestQueryParams(t *testing.T) {
	got, p := queryParams("a=1&b=x%20y&c=%26", testLimits)
	if p != nil || got["a"] != "1" || got["b"] != "x y" || got["c"] != "&" {
		t.Fatalf("got %v, %v", got, p)
	}
	for _, bad := range []string{"a=1&a=2", "a=%zz", "a=1&b=2&c=3&d=4"} {
		if _, p := queryParams(bad, testLimits); p == nil || p.Code != "invalid_param" {
			t.Errorf("queryParams(%q) = %v, want invalid_param", bad, p)
		}
	}
}

// FuzzBodyParams checks the parser against encoding/json: whatever it
// accepts is valid JSON whose params decode to the same values, and
// invalid JSON is never accepted.
func FuzzBodyParams(f *testing.F) {
	for _, seed := range []string{`{"params": {"a": "x", "n": -1.5e3, "t": true}}`, `{"params": null}`, `{"params": {"a": "\u00e9\ud83d\ude00"}}`, `{"method": 1}`, ` {} `} {
		f.Add([]byte(seed))
	}
	lim := Limits{MaxBody: 64 << 10, MaxParams: 64, MaxName: 64, MaxValue: 8 << 10}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, p := bodyParams(body, lim)
		if p != nil {
			return
		}
		if len(bytes.TrimSpace(body)) == 0 {
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		var ref struct {
			Params map[string]json.RawMessage `json:"params"`
		}
		if err := json.Unmarshal(body, &ref); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", body, err)
		}
		if len(ref.Params) != len(got) {
			t.Fatalf("%q: got %d params, encoding/json %d", body, len(got), len(ref.Params))
		}
		for name, raw := range ref.Params {
			want := string(raw)
			var s string
			if json.Unmarshal(raw, &s) == nil {
				want = s
			}
			if got[name] != want {
				t.Fatalf("%q: param %q = %q, encoding/json %q", body, name, got[name], want)
			}
		}
	})
}
