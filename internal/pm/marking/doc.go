// Package marking owns the data plane of alternate-marking loss
// measurement (RFC 9341) for SRv6 policies: the eBPF tc programs (C source
// bpf/marking.c, object generated with bpf2go and committed) that color and
// count packets per segment list at the headend after encapsulation and at
// the tail before decapsulation, and the Go API that loads them, attaches
// them to interfaces, registers policies, flips the color and reads the
// counters.
package marking
