package marking

// The eBPF object is generated from bpf/marking.c with clang and committed, so
// building sr6 needs no C toolchain: `make bpf` (or go generate) refreshes
// it (needs Debian's clang and libbpf-dev).
//go:generate go tool bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel -type pm_config -type seglist -type counters -type counter marking bpf/marking.c
