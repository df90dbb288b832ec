package vaultstore

import (
	"fmt"
	"os"
	"strings"
)

// readSecretFile reads a one-line credential. Errors name the file, never
// its content.
func readSecretFile(path, what string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading %s file: %w", what, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s file %s is empty", what, path)
	}
	return s, nil
}
