package nsutil

import (
	"fmt"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// DoPath runs fn on an OS thread switched into the network namespace at
// path (a /run/netns file or /proc/PID/ns/net); "" runs fn right here, in
// the calling thread's namespace.
//
// It is the one place sr6 switches a thread's namespace. The thread is
// locked to a goroutine of its own for the call and handed back to the
// scheduler only once it is back in its original namespace: one that fails
// to switch back stays locked, so the runtime destroys it instead of
// reusing it in the wrong namespace (ns.WithNetNSPath does exactly this).
// What fn creates there (sockets, netlink handles, eBPF links resolved by
// ifindex) stays in that namespace after fn returns; goroutines fn starts
// do not run in it.
func DoPath(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	return ns.WithNetNSPath(path, func(ns.NetNS) error { return fn() })
}

// NetlinkHandle opens a netlink handle whose sockets live in the network
// namespace at path ("" is the calling thread's), of the netlink families
// given (none: every family the library supports); close it after use.
//
// The sockets are created inside DoPath rather than by
// netlink.NewHandleAt, which hands its thread back to the scheduler even
// when switching back failed.
func NetlinkHandle(path string, families ...int) (*netlink.Handle, error) {
	var h *netlink.Handle
	err := DoPath(path, func() error {
		var err error
		h, err = netlink.NewHandle(families...)
		return err
	})
	if err != nil {
		if path == "" {
			return nil, fmt.Errorf("netlink: %w", err)
		}
		return nil, fmt.Errorf("netlink in %s: %w", path, err)
	}
	return h, nil
}

// LinkSubscribe subscribes ch to the link updates of the network namespace
// at path ("" is the calling thread's), as netlink.LinkSubscribeWithOptions
// does (opts.Namespace must be nil): its socket is created inside DoPath,
// for the reason NetlinkHandle gives.
func LinkSubscribe(path string, ch chan<- netlink.LinkUpdate, done <-chan struct{}, opts netlink.LinkSubscribeOptions) error {
	if opts.Namespace != nil {
		return fmt.Errorf("link subscription: a namespace handle and a path given: give the path only")
	}
	err := DoPath(path, func() error { return netlink.LinkSubscribeWithOptions(ch, done, opts) })
	if err != nil && path != "" {
		return fmt.Errorf("link subscription in %s: %w", path, err)
	}
	return err
}
