// Package testutil owns what sr6's privileged tests share: the rule that
// decides whether a test that needs root and system tools runs, skips or
// fails, and unique names for the namespaces and labs tests create.
package testutil
