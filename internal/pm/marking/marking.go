package marking

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// MaxSegments is the longest segment list the programs measure.
const MaxSegments = 8

// Role says which program an interface gets.
type Role int

// Roles.
const (
	// Headend interfaces color and count packets on egress.
	Headend Role = iota
	// Tail interfaces count packets on ingress, by the color they carry.
	Tail
)

// TrafficClassBit is the mask of bit n (0 = least significant) of the
// IPv6 Traffic Class, within the header's first 32-bit word.
func TrafficClassBit(n int) (uint32, error) {
	if n < 0 || n > 7 {
		return 0, fmt.Errorf("traffic class bit %d: allowed 0 to 7", n)
	}
	return 1 << (20 + n), nil
}

// FlowLabelBit is the mask of bit n (0 = least significant) of the IPv6
// Flow Label.
func FlowLabelBit(n int) (uint32, error) {
	if n < 0 || n > 19 {
		return 0, fmt.Errorf("flow label bit %d: allowed 0 to 19", n)
	}
	return 1 << n, nil
}

// Counter is the packets and bytes of one segment list in one color, summed
// over CPUs, since the list was registered.
type Counter struct {
	Packets, Bytes uint64
}

// Programs are the loaded programs and maps of one node.
type Programs struct {
	objs  markingObjects
	links []link.Link
}

// Load loads the programs and their maps into the kernel.
func Load() (*Programs, error) {
	p := &Programs{}
	if err := loadMarkingObjects(&p.objs, nil); err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("load marking programs: %+v", verr)
		}
		return nil, fmt.Errorf("load marking programs: %w", err)
	}
	return p, nil
}

// Attach attaches the program of role to the interface with index ifindex
// (tcx, so it coexists with other tc programs). The index is resolved in
// the network namespace of the calling thread.
func (p *Programs) Attach(ifindex int, role Role) error {
	opts := link.TCXOptions{Interface: ifindex, Program: p.objs.PmMark, Attach: ebpf.AttachTCXEgress}
	if role == Tail {
		opts.Program, opts.Attach = p.objs.PmCount, ebpf.AttachTCXIngress
	}
	l, err := link.AttachTCX(opts)
	if err != nil {
		return fmt.Errorf("attach to interface %d: %w", ifindex, err)
	}
	p.links = append(p.links, l)
	return nil
}

// Configure sets which header bit carries the color and the color the
// headend writes now (0 or 1). A zero mask disables marking and counting.
func (p *Programs) Configure(mask uint32, color int) error {
	cfg := markingPmConfig{Color: uint32(color & 1), Mask: mask}
	if err := p.objs.Config.Put(uint32(0), &cfg); err != nil {
		return fmt.Errorf("marking config: %w", err)
	}
	return nil
}

func seglist(segs []netip.Addr) (markingSeglist, error) {
	var l markingSeglist
	if len(segs) == 0 || len(segs) > MaxSegments {
		return l, fmt.Errorf("segment list of %d: measurable lists have 1 to %d segments", len(segs), MaxSegments)
	}
	l.N = uint32(len(segs))
	// The SRH stores the list last segment first; keys follow the wire.
	for i, s := range segs {
		if !s.Is6() || s.Is4In6() {
			return l, fmt.Errorf("segment %s is not an IPv6 address", s)
		}
		l.Segs[len(segs)-1-i] = s.As16()
	}
	return l, nil
}

// Register starts measuring the policy with segment list segs (path order,
// as installed by the headend), with counters at zero; registering again
// keeps the counters.
func (p *Programs) Register(segs []netip.Addr) error {
	l, err := seglist(segs)
	if err != nil {
		return err
	}
	// A per-CPU entry takes one (zero) value per possible CPU.
	zero := make([]markingCounters, ebpf.MustPossibleCPU())
	if err := p.objs.Policies.Update(&l, zero, ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
		return fmt.Errorf("register %v: %w", segs, err)
	}
	return nil
}

// Unregister stops measuring segs and forgets its counters.
func (p *Programs) Unregister(segs []netip.Addr) error {
	l, err := seglist(segs)
	if err != nil {
		return err
	}
	if err := p.objs.Policies.Delete(&l); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unregister %v: %w", segs, err)
	}
	return nil
}

// Read returns the counters of segs in color, summed over CPUs.
func (p *Programs) Read(segs []netip.Addr, color int) (Counter, error) {
	l, err := seglist(segs)
	if err != nil {
		return Counter{}, err
	}
	var perCPU []markingCounters
	if err := p.objs.Policies.Lookup(&l, &perCPU); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return Counter{}, nil
		}
		return Counter{}, fmt.Errorf("read counters of %v: %w", segs, err)
	}
	var c Counter
	for _, v := range perCPU {
		c.Packets += v.Color[color&1].Packets
		c.Bytes += v.Color[color&1].Bytes
	}
	return c, nil
}

// Close detaches the programs and releases them.
func (p *Programs) Close() error {
	var errs []error
	for _, l := range p.links {
		errs = append(errs, l.Close())
	}
	errs = append(errs, p.objs.Close())
	return errors.Join(errs...)
}
