package restv1

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// MinTokenLength is the shortest bearer token a token file may hold.
const MinTokenLength = 16

// maxTokenFile bounds what is read of a token file.
const maxTokenFile = 4096

// ReadTokenFile reads the bearer token kept in path (surrounding white
// space trimmed). Whoever reads the token can program the network's
// routes, so the file must be a regular file (not a symbolic link, a FIFO
// or a device), owned by this user, that nobody else can read.
func ReadTokenFile(path string) (string, error) {
	// O_NOFOLLOW: a link planted in place of the file is refused, not
	// followed; O_NONBLOCK: a FIFO there does not block the open.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("token file %s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return "", fmt.Errorf("token file %s belongs to uid %d, not to this user (uid %d)", path, st.Uid, os.Geteuid())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("token file %s is readable by others (mode %04o): chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxTokenFile))
	if err != nil {
		return "", fmt.Errorf("token file %s: %w", path, err)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", fmt.Errorf("token file %s: empty", path)
	}
	if len(tok) < MinTokenLength {
		return "", fmt.Errorf("token file %s: token shorter than %d characters", path, MinTokenLength)
	}
	return tok, nil
}
