package pki

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadCAIssuesUnderTheSameCA: a CA saved and loaded again issues
// certificates that the first one's ca.pem verifies.
func TestLoadCAIssuesUnderTheSameCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.SaveKey(dir); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(keyFile(dir)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi.Mode(), err)
	}
	loaded, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := loaded.Issue(dir, "r9", true)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.pem)
	data, err := os.ReadFile(f.Cert)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "r9", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Fatalf("certificate of the loaded CA does not verify under the saved one: %v", err)
	}
}

func TestLoadCAErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"nothing", nil, "ca.pem"},
		{"no key", map[string]string{"ca.pem": "x"}, "ca-key.pem"},
		{"not PEM", map[string]string{"ca.pem": "x", "ca-key.pem": "y"}, "not PEM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, text := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := LoadCA(dir); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

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
