// Package nsutil owns named network namespaces (the /run/netns files that
// `ip netns` also uses): creating and deleting them, running Go code or
// starting processes inside one, and finding the processes that live in
// one so cleanup leaves nothing running.
package nsutil
