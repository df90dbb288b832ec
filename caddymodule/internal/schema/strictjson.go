package schema

import (
	"errors"

	"github.com/widgetgate/widgetgate/caddymodule/internal/strictjson"
)

// checkStrictJSON refuses what encoding/json silently accepts but other
// parsers read differently: a key given twice in one object, also with a
// different case (encoding/json matches struct fields case-insensitively,
// so "URL" and "url" would race for one field), and absurd nesting.
// Syntax errors and trailing data are left to the decoder proper, whose
// messages say more.
func checkStrictJSON(data []byte) error {
	var se *strictjson.Error
	if err := strictjson.Check(data, strictjson.Options{FoldCase: true}); errors.As(err, &se) {
		return se
	}
	return nil
}
