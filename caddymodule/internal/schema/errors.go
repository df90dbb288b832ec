package schema

import (
	"errors"
	"strings"
)

// FieldError is one problem found in a widget package: the file it is in,
// the field of that file, and what is wrong.
type FieldError struct {
	// File is the file as the package's source names it, e.g.
	// "widgets/my-saas/schema.json", or the package itself for a problem
	// of the whole package (a symbolic link, a bad zip).
	File string
	// Field is the path of the offending field in File, e.g.
	// "authenticatedApis[2] (getData).url"; empty when the problem is the
	// file as a whole.
	Field string
	// Err says what is wrong.
	Err error
}

// Error returns "<file>: <field>: <message>", leaving out what is empty.
func (e *FieldError) Error() string {
	var b strings.Builder
	for _, s := range []string{e.File, e.Field} {
		if s != "" {
			b.WriteString(s)
			b.WriteString(": ")
		}
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *FieldError) Unwrap() error { return e.Err }

// Errors is every problem found in one widget package, in the order the
// files and fields were read. A package with any is refused.
type Errors []*FieldError

// Error returns one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, for errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// collector gathers the problems of one package.
type collector struct {
	errs Errors
}

// add records err in file at field. An err that is itself a *FieldError
// without a file (as decodeStrict returns for a mistyped field) has its
// field appended to field.
func (c *collector) add(file, field string, err error) {
	var fe *FieldError
	if errors.As(err, &fe) && fe.File == "" {
		field = joinField(field, fe.Field)
		err = fe.Err
	}
	c.errs = append(c.errs, &FieldError{File: file, Field: field, Err: err})
}

// joinField appends sub to the field path field.
func joinField(field, sub string) string {
	switch {
	case field == "":
		return sub
	case sub == "":
		return field
	}
	return field + "." + sub
}
