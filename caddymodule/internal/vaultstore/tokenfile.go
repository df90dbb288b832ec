package vaultstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	vault "github.com/hashicorp/vault/api"
)

// tokenFile is the token_file method: the token in a file that something
// else (usually Vault Agent's file sink) keeps fresh. The Authenticator
// re-reads it when it changes and after a 403.
type tokenFile struct {
	path string
	// info describes the file when last read; nil before. The
	// Authenticator calls token one at a time, so it needs no lock.
	info fs.FileInfo
}

func checkTokenFile(cfg *AuthConfig) error {
	if strings.TrimSpace(cfg.TokenFile) == "" {
		return errors.New("vault auth method token_file needs token_file")
	}
	return nil
}

func newTokenFile(cfg AuthConfig, _ clientFunc) loginMethod {
	return &tokenFile{path: cfg.TokenFile}
}

func (m *tokenFile) name() AuthMethod { return AuthTokenFile }

func (m *tokenFile) renewal() renewal { return rereadSource }

// token reads the file if it changed since it was last read (or always,
// with force), and returns nil when it did not change.
func (m *tokenFile) token(_ context.Context, force bool) (*vault.Secret, error) {
	// Stat before reading: if the file changes in between, the next check
	// reads it again, so a change is never missed.
	fi, err := os.Stat(m.path)
	if err != nil {
		return nil, fmt.Errorf("vault token file: %w", err)
	}
	if !force && !fileChanged(m.info, fi) {
		return nil, nil
	}
	tok, err := readSecretFile(m.path, "vault token")
	if err != nil {
		return nil, err
	}
	m.info = fi
	return tokenSecret(tok), nil
}

func (m *tokenFile) rejected(err error) error {
	return fmt.Errorf("vault auth: the token in %s: %w (is Vault Agent keeping it fresh?)", m.path, err)
}

// fileChanged reports whether the file now described by cur differs from
// the one read as prev. Besides modification time and size it compares the
// file's identity (inode): Vault Agent replaces its sink by renaming a new
// file over it, and two tokens of the same length written within one tick
// of the file system's coarse clock have the same size and mtime.
func fileChanged(prev, cur fs.FileInfo) bool {
	return prev == nil || !os.SameFile(prev, cur) || !prev.ModTime().Equal(cur.ModTime()) || prev.Size() != cur.Size()
}

var _ loginMethod = (*tokenFile)(nil)
