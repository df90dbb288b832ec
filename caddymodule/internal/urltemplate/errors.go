package urltemplate

import (
	"errors"
	"fmt"
)

// Error codes a render can fail with; they are the HTTP contract's problem codes.
const (
	CodeMissingParam = "missing_param"
	CodeInvalidParam = "invalid_param"
)

var (
	errControl      = errors.New("contains a control character")
	errUTF8         = errors.New("is not valid UTF-8")
	errEmptySegment = errors.New("is empty but fills a path segment")
	errSeparator    = errors.New("contains a path separator")
	errDotSegment   = errors.New("is a dot segment")
)

// ParamError says which caller-supplied value made a render fail and why.
// It never carries the value itself: values are hostile input and echoing
// them back invites reflection attacks and log injection.
type ParamError struct {
	Code   string // CodeMissingParam or CodeInvalidParam
	Param  string // "userId", or "user.id" for the caller's user
	Reason string
}

func (e *ParamError) Error() string {
	if e.Code == CodeMissingParam {
		return fmt.Sprintf("param %q is required", e.Param)
	}
	return fmt.Sprintf("param %q %s", e.Param, e.Reason)
}

func invalid(name string, err error) *ParamError {
	return &ParamError{Code: CodeInvalidParam, Param: name, Reason: err.Error()}
}
