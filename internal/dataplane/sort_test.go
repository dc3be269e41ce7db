package dataplane

import (
	"net/netip"
	"slices"
	"testing"
)

// TestSortByPrefixText: routes come out in the order of their prefixes'
// text, as ReadState has always listed them.
func TestSortByPrefixText(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"none", nil, nil},
		{"one", []string{"fd00::/64"}, []string{"fd00::/64"}},
		{"text order, not address order", []string{"fd00:0:ff::a/128", "fd00:0:ff::9/128", "10.0.2.0/24", "fd00:0:1::/48"},
			[]string{"10.0.2.0/24", "fd00:0:1::/48", "fd00:0:ff::9/128", "fd00:0:ff::a/128"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var routes []UnderlayRoute
			for _, s := range tc.in {
				routes = append(routes, UnderlayRoute{Prefix: p(s)})
			}
			sortByPrefixText(routes, func(u UnderlayRoute) netip.Prefix { return u.Prefix })
			var got []string
			for _, r := range routes {
				got = append(got, r.Prefix.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
