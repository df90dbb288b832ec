package vaultstore

import (
	"strings"
	"testing"
)

func TestValidID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"lobby-screen", true},
		{"a", true},
		{"0", true},
		{"Screen_1:east@hq.example", true},
		{strings.Repeat("a", 128), true},
		{"", false},
		{strings.Repeat("a", 129), false},
		{"a.b", true},
		{"a.", true}, // not a dot segment
		// Dot segments: an id is a Vault path segment, and Vault resolves
		// "passports/.." to the prefix and "passports/." to "passports".
		{".", false},
		{"..", false},
		{"...", false},
		{"a/..", false},
		{"%2e%2e", false}, // ids reach ValidID decoded; the escaped form fails on '%'
		{".hidden", false},
		{"-dash", false},
		{"_under", false},
		{"a..b", false},
		{"a/b", false},
		{"a\\b", false},
		{"a b", false},
		{"a%2fb", false},
		{"a\x00", false},
		{"é", false},
		{"ａ", false}, // fullwidth letter
		{"a\n", false},
	}
	for _, tc := range tests {
		if got := ValidID(tc.id); got != tc.want {
			t.Errorf("ValidID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}
