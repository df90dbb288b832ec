package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/widgetgate/widgetgate/caddymodule/internal/template"
)

// limits bound what a caller may send; see the handler's fields.
type limits struct {
	maxBody, maxParams, maxName, maxValue int
}

// readParams reads the caller's params: the {"params": {...}} body of a
// POST, or the query string of a raw-mode GET. Only structural problems are
// reported here; whether the API needs a param is the template's business.
func readParams(r *http.Request, lim limits) (map[string]string, *problem) {
	if r.Method == http.MethodGet {
		return queryParams(r.URL.RawQuery, lim)
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, int64(lim.maxBody)))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, newProblem(http.StatusRequestEntityTooLarge, "request_too_large",
				fmt.Sprintf("the request body is larger than %d bytes", lim.maxBody))
		}
		return nil, newProblem(http.StatusBadRequest, "invalid_json", "the request body could not be read")
	}
	return bodyParams(body, lim)
}

// bodyParams parses {"params": {...}}. It walks the tokens itself instead
// of unmarshalling into a map so that it can refuse duplicate keys (which
// parsers disagree on) and keep numbers as their JSON text.
func bodyParams(body []byte, lim limits) (map[string]string, *problem) {
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]string{}, nil
	}
	// encoding/json would quietly turn invalid UTF-8 into U+FFFD; refuse it.
	if !utf8.Valid(body) {
		return nil, paramProblem("", "values must be valid UTF-8")
	}
	bad := func(msg string) (map[string]string, *problem) {
		return nil, newProblem(http.StatusBadRequest, "invalid_json", msg)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return bad(`the body must be a JSON object: {"params": {...}}`)
	}
	params := map[string]string{}
	seenParams := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return bad("the body is not valid JSON")
		}
		key := tok.(string)
		if key != "params" {
			p := newProblem(http.StatusBadRequest, "override_not_allowed",
				fmt.Sprintf("%q cannot be set by a widget: the schema fixes the method, URL, headers and body; only params are accepted", key))
			return nil, p
		}
		if seenParams {
			return bad(`"params" appears twice`)
		}
		seenParams = true
		literalFFFD := bytes.Contains(body, []byte("\uFFFD")) || bytes.Contains(bytes.ToLower(body), []byte(`\ufffd`))
		if p := readParamsObject(dec, params, lim, literalFFFD); p != nil {
			return nil, p
		}
	}
	if _, err := dec.Token(); err != nil {
		return bad("the body is not valid JSON")
	}
	// Checking the rest by hand: asking the decoder for one more token
	// builds a syntax error on every call.
	if len(bytes.TrimSpace(body[dec.InputOffset():])) != 0 {
		return bad("trailing data after the JSON body")
	}
	return params, nil
}

func readParamsObject(dec *json.Decoder, params map[string]string, lim limits, literalFFFD bool) *problem {
	tok, err := dec.Token()
	if err != nil {
		return newProblem(http.StatusBadRequest, "invalid_json", "the body is not valid JSON")
	}
	if tok == nil {
		return nil // "params": null means none
	}
	if tok != json.Delim('{') {
		return newProblem(http.StatusBadRequest, "invalid_json", `"params" must be an object of name → value`)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return newProblem(http.StatusBadRequest, "invalid_json", "the body is not valid JSON")
		}
		name := tok.(string)
		vtok, err := dec.Token()
		if err != nil {
			return newProblem(http.StatusBadRequest, "invalid_json", "the body is not valid JSON")
		}
		var value string
		switch v := vtok.(type) {
		case string:
			value = v
		case json.Number:
			value = v.String()
		case bool:
			value = "false"
			if v {
				value = "true"
			}
		default:
			return paramProblem(name, "must be a string, number or boolean (not null, an object or an array)")
		}
		if _, dup := params[name]; dup {
			return paramProblem(name, "is given twice")
		}
		// A lone surrogate escape ("\ud800") decodes to U+FFFD too; a
		// U+FFFD the caller really sent is written as such in the body.
		if strings.ContainsRune(value, utf8.RuneError) && !literalFFFD {
			return paramProblem(name, "is not valid UTF-8")
		}
		if p := checkParam(name, value, len(params), lim); p != nil {
			return p
		}
		params[name] = value
	}
	_, err = dec.Token() // the closing '}'
	if err != nil {
		return newProblem(http.StatusBadRequest, "invalid_json", "the body is not valid JSON")
	}
	return nil
}

// queryParams reads raw-mode GET params from the query string.
func queryParams(rawQuery string, lim limits) (map[string]string, *problem) {
	params := map[string]string{}
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		if pair == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err1 := url.QueryUnescape(rawName)
		value, err2 := url.QueryUnescape(rawValue)
		if err1 != nil || err2 != nil {
			return nil, paramProblem(rawName, "is not validly percent-encoded")
		}
		if _, dup := params[name]; dup {
			return nil, paramProblem(name, "is given twice")
		}
		if p := checkParam(name, value, len(params), lim); p != nil {
			return nil, p
		}
		params[name] = value
	}
	return params, nil
}

func checkParam(name, value string, have int, lim limits) *problem {
	switch {
	case have >= lim.maxParams:
		return paramProblem(name, fmt.Sprintf("is one too many: at most %d params", lim.maxParams))
	case name == "" || len(name) > lim.maxName:
		return paramProblem(truncate(name, lim.maxName), fmt.Sprintf("name must be 1 to %d bytes", lim.maxName))
	case len(value) > lim.maxValue:
		return paramProblem(name, fmt.Sprintf("value is longer than %d bytes", lim.maxValue))
	}
	if err := template.CheckValue(name); err != nil {
		return paramProblem("", "a param name "+err.Error())
	}
	// Checked here too (the template checks again) so that a hostile
	// value is a 400 before anything else, as the contract orders.
	if err := template.CheckValue(value); err != nil {
		return paramProblem(name, err.Error())
	}
	return nil
}

func paramProblem(name, reason string) *problem {
	p := newProblem(http.StatusBadRequest, "invalid_param", fmt.Sprintf("param %q %s", name, reason))
	p.Param = name
	return p
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
