// Package restv1 is the public contract of the controller's REST API,
// version 1: the types its JSON bodies carry, the one shape of its error
// bodies, the name rule shared by policies and sessions, and a Go client
// (including the server-sent event stream of measurement results), and
// the results of a lab's runtime operations (lab.go: link set, impair,
// capture, stats), which `sr6 lab ... --json` prints and the web UI's lab
// manager serves.
//
// It imports nothing under internal/: the controller, the CLI and any
// other program (the web UI, a library user) build on it, never the
// reverse. The OpenAPI document the controller serves at /openapi.json
// describes the same types.
package restv1
