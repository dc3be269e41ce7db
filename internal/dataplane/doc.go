// Package dataplane owns the Linux kernel SRv6 data plane as sr6 programs
// it over netlink: seg6 steering routes (H.Encaps and H.Insert, for IPv4
// and IPv6 traffic), seg6local behaviours (End, End.X, End.T, End.DX2,
// End.DX4, End.DX6, End.DT6, End.B6, End.B6.Encaps) and the ownership
// mark (a route protocol number) that lets cleanup touch only what sr6
// installed.
package dataplane
