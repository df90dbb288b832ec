// Package strictjson refuses JSON that encoding/json accepts silently but
// that other parsers, or a reviewer reading the file, take differently: a
// key given twice in one object (encoding/json keeps the last, so a second
// "tokenUrl" could hide behind the one a reviewer reads), optionally keys
// that differ only in case, absurd nesting, and optionally anything after
// the document. Package files (schema) and custom passport files (provider)
// are checked with it before they are decoded.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// MaxDepth bounds nesting: real documents nest a handful of levels, deep
// nesting is only ever an attack on parsers, and the walk recurses once
// per level.
const MaxDepth = 32

// Errors for documents that are not one JSON object, with Options.Object
// and Options.Single.
var (
	// ErrNotObject: the document is valid JSON but not an object.
	ErrNotObject = errors.New("the document must be a JSON object")
	// ErrTrailing: something follows the document.
	ErrTrailing = errors.New("trailing data after the JSON document")
)

// Options picks the checks beyond repeated keys and nesting depth.
type Options struct {
	// FoldCase also refuses keys of one object that differ only in case:
	// encoding/json matches struct fields case-insensitively, so "URL" and
	// "url" would race for one field.
	FoldCase bool
	// Object requires the document to be a JSON object (ErrNotObject).
	Object bool
	// Single refuses anything after the document (ErrTrailing). Without
	// it, further documents in data are checked too.
	Single bool
}

// Problem says what is wrong in an Error.
type Problem int

// The problems Check reports as an *Error.
const (
	// Duplicate: Key appears twice in the object at Path.
	Duplicate Problem = iota + 1
	// CaseVariant: Prev and Key of the object at Path differ only in case
	// (Options.FoldCase).
	CaseVariant
	// TooDeep: the object or array at Path is nested more than MaxDepth
	// levels deep.
	TooDeep
)

// Step is one step from a document's root towards a value: an object's
// Key, or an array's Index when InArray is set.
type Step struct {
	Key     string
	Index   int
	InArray bool
}

// Error is a structural problem found by Check. Path locates the object
// holding the repeated key, or the container nested too deep.
type Error struct {
	Problem Problem
	Path    []Step
	Key     string // the repeated key
	Prev    string // the key Key repeats, as first written
}

// Error names the keys leading to the problem from the root, "$", leaving
// out array positions: a reader of the file looks for keys. Callers that
// name positions build their own text from Path.
func (e *Error) Error() string {
	at := "$"
	for _, s := range e.Path {
		if !s.InArray {
			at += "." + s.Key
		}
	}
	switch e.Problem {
	case Duplicate:
		return fmt.Sprintf("%s: key %q appears twice", at, e.Key)
	case CaseVariant:
		return fmt.Sprintf("%s: keys %q and %q differ only in case", at, e.Prev, e.Key)
	default:
		return fmt.Sprintf("%s: nested deeper than %d levels", at, MaxDepth)
	}
}

// Check walks data token by token and returns its first problem: an *Error
// for a repeated key or too deep nesting, ErrNotObject or ErrTrailing as
// opts asks, or the decoder's error (a *json.SyntaxError, io.EOF for a
// document cut short) for data that is not JSON. Empty data is an io.EOF
// error with Object or Single, and fine otherwise.
func Check(data []byte, opts Options) error {
	w := walker{dec: json.NewDecoder(bytes.NewReader(data)), opts: opts}
	// Numbers stay text: a float64 conversion could fail on a huge number
	// and end the walk before a repeated key after it.
	w.dec.UseNumber()
	for first := true; ; first = false {
		tok, err := w.dec.Token()
		if errors.Is(err, io.EOF) && (!first || !(opts.Object || opts.Single)) {
			return nil
		}
		if err != nil {
			return err
		}
		if opts.Object && tok != json.Delim('{') {
			return ErrNotObject
		}
		if err := w.value(tok, nil, 0); err != nil {
			return err
		}
		if opts.Single {
			if _, err := w.dec.Token(); !errors.Is(err, io.EOF) {
				return ErrTrailing
			}
			return nil
		}
	}
}

// walker is one walk through a document.
type walker struct {
	dec  *json.Decoder
	opts Options
}

// value walks the value that starts with tok, found at path inside depth
// containers.
func (w *walker) value(tok json.Token, path []Step, depth int) error {
	if tok != json.Delim('{') && tok != json.Delim('[') {
		return nil
	}
	depth++
	if depth > MaxDepth {
		return &Error{Problem: TooDeep, Path: slices.Clone(path)}
	}
	if tok == json.Delim('[') {
		for i := 0; w.dec.More(); i++ {
			tok, err := w.dec.Token()
			if err != nil {
				return err
			}
			if err := w.value(tok, append(path, Step{Index: i, InArray: true}), depth); err != nil {
				return err
			}
		}
	} else {
		seen := make(map[string]string) // key as compared -> as written
		for w.dec.More() {
			tok, err := w.dec.Token()
			if err != nil {
				return err
			}
			key, _ := tok.(string) // object keys are always strings
			norm := key
			if w.opts.FoldCase {
				norm = strings.ToLower(key)
			}
			if prev, dup := seen[norm]; dup {
				p := Duplicate
				if prev != key {
					p = CaseVariant
				}
				return &Error{Problem: p, Path: slices.Clone(path), Key: key, Prev: prev}
			}
			seen[norm] = key
			if tok, err = w.dec.Token(); err != nil {
				return err
			}
			if err := w.value(tok, append(path, Step{Key: key}), depth); err != nil {
				return err
			}
		}
	}
	_, err := w.dec.Token() // the closing '}' or ']'
	return err
}

var _ error = (*Error)(nil)
