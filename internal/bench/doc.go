// Package bench owns sr6's comparative benchmarks: each one runs sr6 and
// the reference tool it is measured against on the same input, in the same
// run, and reports both side by side.
package bench
