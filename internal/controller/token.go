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
// an existing file is read as restv1.ReadTokenFile does (a symbolic link
// there is refused, not followed).
func ReadOrCreateToken(path string) (string, error) {
	if path == "" {
		return "", errors.New("token file: no path given")
	}
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		tok, err := writeToken(path, false)
		if !errors.Is(err, os.ErrExist) {
			return tok, err
		}
		// Another process created it meanwhile: read its token.
	}
	return restv1.ReadTokenFile(path)
}

// NewTokenFile writes a new random token (32 bytes in hex) to path, mode
// 0600, replacing the file there (never what a symbolic link there points
// to), and returns it.
func NewTokenFile(path string) (string, error) {
	return writeToken(path, true)
}

// writeToken writes a new token into a temporary file of path's folder
// and then links it in: replace renames it over path (atomically, so
// readers see the old token or the new one); otherwise it is linked only
// if path does not exist (os.ErrExist if it does), so that two processes
// creating it at once agree on one token.
func writeToken(path string, replace bool) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	tok := hex.EncodeToString(b)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	// CreateTemp makes the file 0600 and never follows a link.
	f, err := os.CreateTemp(dir, ".token-*")
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("token file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	if replace {
		err = os.Rename(tmp, path)
	} else {
		err = os.Link(tmp, path)
	}
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return "", err
		}
		return "", fmt.Errorf("token file: %w", err)
	}
	return tok, nil
}
