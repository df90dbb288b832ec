package strictjson

import (
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// TestStrictJSON moved here from schema (where it tested checkStrictJSON,
// now Check with FoldCase): the checks and texts of package files.
func TestStrictJSON(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"duplicate key", `{"authenticatedApis": [], "authenticatedApis": []}`, `key "authenticatedApis" appears twice`},
		{"case variant", `{"authenticatedApis": [{"url": "a", "URL": "b"}]}`, `keys "url" and "URL" differ only in case`},
		{"nested duplicate", `{"authentications": [{"metadata": {"passportProvider": "a", "passportProvider": "b"}}]}`, `$.authentications.metadata: key "passportProvider" appears twice`},
		{"too deep", strings.Repeat("[", 40) + strings.Repeat("]", 40), "nested deeper"},
	}
	for _, tc := range tests {
		if err := Check([]byte(tc.doc), Options{FoldCase: true}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	if err := Check([]byte(`{"a": {"x": 1}, "b": {"x": [{"x": 2}, {"x": 3}]}}`), Options{FoldCase: true}); err != nil {
		t.Errorf("same key in different objects is fine: %v", err)
	}
}

// TestCheckProblems: what each problem reports, with the full Path that
// callers naming array positions (provider's field paths) build on.
func TestCheckProblems(t *testing.T) {
	single := Options{Object: true, Single: true}
	tests := []struct {
		name string
		doc  string
		opts Options
		want *Error
	}{
		{"duplicate at the top", `{"name": 1, "name": 2}`, single, &Error{Problem: Duplicate, Key: "name", Prev: "name"}},
		{"duplicate in an array's object", `{"a": [{}, {"b": {"k": 1, "k": 2}}]}`, single,
			&Error{Problem: Duplicate, Path: []Step{{Key: "a"}, {Index: 1, InArray: true}, {Key: "b"}}, Key: "k", Prev: "k"}},
		{"case variant with FoldCase", `{"url": 1, "URL": 2}`, Options{FoldCase: true}, &Error{Problem: CaseVariant, Key: "URL", Prev: "url"}},
		{"too deep in arrays", `{"m":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, single,
			&Error{Problem: TooDeep, Path: append([]Step{{Key: "m"}}, repeatStep(Step{InArray: true}, 31)...)}},
		{"too deep in objects", strings.Repeat(`{"o":`, 33) + "1" + strings.Repeat("}", 33), Options{},
			&Error{Problem: TooDeep, Path: repeatStep(Step{Key: "o"}, 32)}},
		{"repeat after a huge number", `{"a": 1e999, "b": 1, "b": 2}`, Options{}, &Error{Problem: Duplicate, Key: "b", Prev: "b"}},
		{"repeat in a later document", `{} {"a": 1, "a": 2}`, Options{}, &Error{Problem: Duplicate, Key: "a", Prev: "a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got *Error
			if err := Check([]byte(tc.doc), tc.opts); !errors.As(err, &got) {
				t.Fatalf("Check = %v, want an *Error", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Check = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func repeatStep(s Step, n int) []Step {
	out := make([]Step, n)
	for i := range out {
		out[i] = s
		if s.InArray {
			out[i].Index = 0
		}
	}
	return out
}

// TestCheckDocument: the document-level rules of Object and Single, and
// the decoder's errors passed through.
func TestCheckDocument(t *testing.T) {
	single := Options{Object: true, Single: true}
	tests := []struct {
		name string
		doc  string
		opts Options
		want func(error) bool
	}{
		{"one object", `{"a": [1, {"b": "c"}]}`, single, isNil},
		{"case variants without FoldCase", `{"url": 1, "URL": 2}`, single, isNil},
		{"depth 32", strings.Repeat("[", 32) + strings.Repeat("]", 32), Options{}, isNil},
		{"empty, lenient", ``, Options{}, isNil},
		{"empty, single", ``, single, is(io.EOF)},
		{"not an object", `["custom"]`, single, is(ErrNotObject)},
		{"trailing document", `{} {}`, single, is(ErrTrailing)},
		{"trailing garbage", `{} x`, single, is(ErrTrailing)},
		{"later documents, lenient", `{} [] 3`, Options{}, isNil},
		{"cut short", `{"a": [1`, single, is(io.EOF)},
		{"syntax error", `{"name": }`, single, isSyntax},
		{"syntax error, lenient", `{"name": }`, Options{FoldCase: true}, isSyntax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := Check([]byte(tc.doc), tc.opts); !tc.want(err) {
				t.Errorf("Check = %v", err)
			}
		})
	}
}

func isNil(err error) bool { return err == nil }

func is(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

func isSyntax(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se)
}

// FuzzCheck: any input gives nil, an *Error, one of the sentinels or a
// decoder error, and never panics; an *Error's text names the root.
func FuzzCheck(f *testing.F) {
	f.Add([]byte(`{"a": 1, "A": 2}`), true)
	f.Add([]byte(strings.Repeat("[", 40)), false)
	f.Add([]byte(`{"a": [{"b": 1, "b": 2}]} x`), true)
	f.Fuzz(func(t *testing.T, data []byte, fold bool) {
		err := Check(data, Options{FoldCase: fold, Object: !fold, Single: !fold})
		var e *Error
		if errors.As(err, &e) && !strings.HasPrefix(e.Error(), "$") {
			t.Fatalf("error text %q does not start at the root", e)
		}
	})
}
