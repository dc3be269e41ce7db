package restv1

import (
	"fmt"
	"os"
	"strings"
)

// MinTokenLength is the shortest bearer token a token file may hold.
const MinTokenLength = 16

// ReadTokenFile reads the bearer token kept in path (surrounding white
// space trimmed). A file that others can read is refused: whoever reads
// the token can program the network's routes.
func ReadTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("token file %s is readable by others (mode %04o): chmod 600 %s", path, perm, path)
	}
	data := make([]byte, 4096)
	n, err := f.Read(data)
	if err != nil && n == 0 {
		return "", fmt.Errorf("token file %s: empty", path)
	}
	tok := strings.TrimSpace(string(data[:n]))
	if len(tok) < MinTokenLength {
		return "", fmt.Errorf("token file %s: token shorter than %d characters", path, MinTokenLength)
	}
	return tok, nil
}
