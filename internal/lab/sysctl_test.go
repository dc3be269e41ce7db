package lab

import "testing"

func TestSysctlDir(t *testing.T) {
	for _, tt := range []struct{ in, dir, rest string }{
		{"net/ipv6/conf/all/forwarding", "net/ipv6", "conf/all/forwarding"},
		{"net/ipv4/ip_forward", "net/ipv4", "ip_forward"},
		{"net/somaxconn", "net", "somaxconn"},
	} {
		if dir, rest := sysctlDir(tt.in); dir != tt.dir || rest != tt.rest {
			t.Errorf("sysctlDir(%q) = %q, %q, want %q, %q", tt.in, dir, rest, tt.dir, tt.rest)
		}
	}
}
