package provider

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ohler55/ojg/jp"
)

// checkJSONPath validates a profile JSONPath expression ("$.email",
// "$.emails[0].value", "$.data['display-name']") with the parser that will
// evaluate it, so a bad passport is refused at load, not when a profile is
// read. Paths must be rooted: a relative "email" would silently match
// nothing.
func checkJSONPath(s string) (err error) {
	if !strings.HasPrefix(s, "$") {
		return errors.New(`a JSONPath must start with "$"`)
	}
	defer func() {
		if r := recover(); r != nil { // never let a passport file crash the config load
			err = fmt.Errorf("invalid JSONPath: %v", r)
		}
	}()
	if _, err := jp.ParseString(s); err != nil {
		return fmt.Errorf("invalid JSONPath: %w", err)
	}
	return nil
}
