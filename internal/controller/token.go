package controller

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
)

// ReadOrCreateToken returns the REST API bearer token kept in path,
// creating the file (mode 0600, 32 random bytes in hex) if there is none;
// an existing file is read as restv1.ReadTokenFile does.
func ReadOrCreateToken(path string) (string, error) {
	if path == "" {
		return "", errors.New("token file: no path given")
	}
	_, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return createToken(path)
	}
	return restv1.ReadTokenFile(path)
}

// NewTokenFile writes a new random token (32 bytes in hex) to path, mode
// 0600, replacing the one there, and returns it.
func NewTokenFile(path string) (string, error) {
	return writeToken(path, os.O_TRUNC)
}

func createToken(path string) (string, error) {
	// O_EXCL: two processes creating it at once agree on one token.
	tok, err := writeToken(path, os.O_EXCL)
	if errors.Is(err, os.ErrExist) {
		return ReadOrCreateToken(path)
	}
	return tok, err
}

func writeToken(path string, flag int) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	tok := hex.EncodeToString(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|flag, 0o600)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	// An existing file keeps its mode through OpenFile: set it.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return "", fmt.Errorf("token file: %w", err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("token file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	return tok, nil
}
