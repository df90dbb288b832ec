package caddymodule

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

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
