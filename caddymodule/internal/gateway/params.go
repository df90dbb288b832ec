package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/widgetgate/widgetgate/caddymodule/internal/problem"
	"github.com/widgetgate/widgetgate/caddymodule/internal/urltemplate"
)

// Limits bound what a caller may send.
type Limits struct {
	MaxBody   int // bytes of a call's body
	MaxParams int // params in one call
	MaxName   int // bytes of a param's name
	MaxValue  int // bytes of a param's value
}

// readParams reads the caller's params: the {"params": {...}} body of a
// POST, or the query string of a raw-mode GET. Only structural problems are
// reported here; whether the API needs a param is the template's business.
func readParams(r *Request, lim Limits) (map[string]string, *problem.Problem) {
	if r.Method == http.MethodGet {
		return queryParams(r.RawQuery, lim)
	}
	in := r.Body
	if in == nil {
		in = http.NoBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, in, int64(lim.MaxBody)))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, problem.New(http.StatusRequestEntityTooLarge, "request_too_large",
				fmt.Sprintf("the request body is larger than %d bytes", lim.MaxBody))
		}
		return nil, problem.New(http.StatusBadRequest, "invalid_json", "the request body could not be read")
	}
	return bodyParams(body, lim)
}

// queryParams reads raw-mode GET params from the query string.
func queryParams(rawQuery string, lim Limits) (map[string]string, *problem.Problem) {
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

// checkParam checks one param against the limits and the value rules.
func checkParam(name, value string, have int, lim Limits) *problem.Problem {
	switch {
	case have >= lim.MaxParams:
		return paramProblem(name, fmt.Sprintf("is one too many: at most %d params", lim.MaxParams))
	case name == "" || len(name) > lim.MaxName:
		return paramProblem(truncate(name, lim.MaxName), fmt.Sprintf("name must be 1 to %d bytes", lim.MaxName))
	case len(value) > lim.MaxValue:
		return paramProblem(name, fmt.Sprintf("value is longer than %d bytes", lim.MaxValue))
	}
	if err := urltemplate.CheckValue(name); err != nil {
		return paramProblem("", "a param name "+err.Error())
	}
	// Checked here too (the template checks again) so that a hostile
	// value is a 400 before anything else, as the contract orders.
	if err := urltemplate.CheckValue(value); err != nil {
		return paramProblem(name, err.Error())
	}
	return nil
}

// truncate cuts s to at most n bytes, for naming an over-long name.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
