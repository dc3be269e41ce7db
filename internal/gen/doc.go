// Package gen generates sr6 topology files (schema v1) for regular N-router
// shapes, the YAML behind `sr6 gen SHAPE`. It writes the text by hand, in
// the flow style of the examples, so a generated file reads like a written
// one and can be edited further.
//
// Shapes and the options that size them:
//
//   - line (Routers >= 2): r1 -- r2 -- ... -- rN.
//   - ring (Routers >= 3): a line closed by a link rN -- r1.
//   - grid (Rows x Cols, at least 2 routers): a 4-neighbour mesh numbered
//     row by row, so the router at row i, column j (1-based) is
//     r((i-1)*Cols+j) and r1 is the top-left corner.
//   - fattree (K even, 2 to MaxK): the k-ary fat-tree of Al-Fares et al.,
//     every switch a router: (k/2)^2 core routers, then k pods of k/2
//     aggregation and k/2 edge routers. Core router c (0-based) belongs to
//     group c/(k/2); aggregation router a of every pod links to each core
//     router of group a, and each aggregation router links to every edge
//     router of its pod. That gives 5k^2/4 routers and k^3/2 router links
//     (k^3/4 core-aggregation plus k^3/4 aggregation-edge).
//
// Hosts is the number of hosts attached to each attachment router; 0
// attaches none (`sr6 gen` defaults to DefaultHosts, 1). The attachment
// routers are:
//
//   - line: the first and the last router (r1 and rN);
//   - ring: r1 and the router farthest from it, r(N/2+1);
//   - grid: r1 and the router farthest from it, the last one (bottom-right);
//   - fattree: every edge router, as in the classic fat-tree.
//
// So line, ring and grid get 2*Hosts hosts and a fat-tree gets
// (k^2/2)*Hosts.
//
// The output is deterministic. Nodes come routers first (r1..rN) and then
// hosts (h1..hM, numbered in the order of their routers); links come
// router-router links first, then host links. Interfaces are named in link
// order on each node: routers use eth1, eth2, ..., hosts use eth0. In a
// fat-tree each router's role is a YAML comment (c = core, a =
// aggregation, e = edge, with its pod).
//
// Sizes are bounded by the default address plan, which the generated file
// keeps: at most MaxRouters routers (router ids in the /48 locators of
// fc00::/32), MaxLinks router links (the /64s of plan.links fd00:0:1::/48)
// and MaxHostLinks host links (the /64s of plan.hosts6 fd00:0:2::/48). The
// default plan.hosts4 10.0.0.0/16 holds only 255 host /24s, so a topology
// with more host links is written with `plan: {hosts4: 10.0.0.0/8}`.
package gen
