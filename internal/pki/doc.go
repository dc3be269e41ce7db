// Package pki owns the certificates of sr6's mutual TLS: a lab's private CA
// and the certificates it issues to the controller (client) and to each
// agent (server, named after its node), and the tls.Configs built on them.
package pki
