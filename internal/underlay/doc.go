// Package underlay owns the IPv6 routing between routers that SRv6 segments
// ride on: static shortest-path routes computed from the planned graph
// (the default; each router's table compressed to the fewest routes, see
// compress.go), and the FRR IS-IS configuration used when a topology says
// `routing: isis`. It only computes; the lab installs.
package underlay
