// Package controller owns the sr6 SDN controller: SRv6 policies (desired
// state in a store), path computation on the live topology (the planned
// network plus link states reported by agents), the per-node intents
// (steering routes, SIDs, and the underlay of static-routing networks)
// pushed to agents over gRPC, re-routing on link failures, and the REST
// server: its route table, the guards in front of it (token, Host, Origin,
// body type and size), the HTTP server's limits, and the OpenAPI document.
// The API's types and client are the public contract in api/rest/v1.
package controller
