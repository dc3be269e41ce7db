package pki

import (
	"crypto/x509"
	"fmt"
	"os"
	"testing"
)

// TestIssueAll: every name gets a certificate the CA's file verifies, as
// the identity a TLS client expects of it.
func TestIssueAll(t *testing.T) {
	tests := []struct {
		name  string
		count int
	}{{"one", 1}, {"a hundred", 100}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ca, err := NewCA("test")
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir() + "/pki"
			var names []string
			for i := range tc.count {
				names = append(names, fmt.Sprintf("r%d", i+1))
			}
			if err := ca.IssueAll(dir, names, true); err != nil {
				t.Fatal(err)
			}
			for _, n := range names {
				f := In(dir, n)
				srv, err := ServerConfig(f)
				if err != nil {
					t.Fatalf("%s: %v", n, err)
				}
				leaf := srv.Certificates[0].Leaf
				if leaf == nil || len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != n {
					t.Fatalf("%s: certificate %v", n, leaf)
				}
				// ServerConfig's pool is the CA file's: the chain holds.
				if _, err := leaf.Verify(x509.VerifyOptions{DNSName: n, Roots: srv.ClientCAs,
					KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
					t.Errorf("%s: %v", n, err)
				}
				if st, err := os.Stat(f.Key); err != nil || st.Mode().Perm() != 0o600 {
					t.Errorf("%s: key file %v %v", n, st.Mode(), err)
				}
			}
		})
	}
}
