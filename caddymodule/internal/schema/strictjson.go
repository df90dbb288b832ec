package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxJSONDepth bounds nesting in package JSON files; real schemas nest a
// handful of levels, and deep nesting is only ever an attack on parsers.
const maxJSONDepth = 32

// checkStrictJSON refuses what encoding/json silently accepts but other
// parsers read differently: a key given twice in one object, also with a
// different case (encoding/json matches struct fields case-insensitively,
// so "URL" and "url" would race for one field), and absurd nesting.
func checkStrictJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		keys   map[string]string // lower-cased key -> as written
		isObj  bool
		expect bool // next string token in an object is a key
		path   string
	}
	var stack []*frame
	path := "$"
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil // syntax errors are reported by the decoder proper
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if key, isKey := tok.(string); isKey && top != nil && top.isObj && top.expect {
			lower := strings.ToLower(key)
			if prev, dup := top.keys[lower]; dup {
				if prev == key {
					return fmt.Errorf("%s: key %q appears twice", top.path, key)
				}
				return fmt.Errorf("%s: keys %q and %q differ only in case", top.path, prev, key)
			}
			top.keys[lower] = key
			top.expect = false
			path = top.path + "." + key
			continue
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) >= maxJSONDepth {
				return fmt.Errorf("%s: nested deeper than %d levels", path, maxJSONDepth)
			}
			f := &frame{isObj: tok == json.Delim('{'), expect: true, path: path}
			if f.isObj {
				f.keys = map[string]string{}
			}
			stack = append(stack, f)
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 {
			top = stack[len(stack)-1]
			if top.isObj {
				top.expect = true
			}
			path = top.path
		}
	}
}
