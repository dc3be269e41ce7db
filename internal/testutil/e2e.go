package testutil

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"testing"
)

// Strict tells whether missing privileges or tools must fail tests rather
// than skip them: in CI (CI=true) and when SR6_E2E=1.
func Strict() bool {
	return os.Getenv("CI") == "true" || os.Getenv("SR6_E2E") == "1"
}

// RequirePrivileged lets t run only as root with every tool on PATH (or at
// the absolute path given). Without them it skips on a developer machine
// and fails under Strict, so CI never passes by skipping.
func RequirePrivileged(t testing.TB, tools ...string) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	if Strict() {
		t.Fatalf("end-to-end test needs %v (CI=true or SR6_E2E=1: not skipping)", missing)
	}
	t.Skipf("end-to-end test needs %v; run as root, or set SR6_E2E=1 to make this a failure", missing)
}

// UniqueName returns prefix followed by random hex, short enough for lab
// names (24 characters): each test run gets names no other run uses.
func UniqueName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}
