package restv1

import "time"

// The types below are the results of a lab's runtime operations (link
// set, impair, capture, stats). `sr6 lab ... --json` prints them, and the
// lab manager of the web UI serves the same JSON over REST: they are the
// public contract of those operations, as Policy is of the controller's.

// Link states a LinkState result can report.
const (
	LinkUp   = "up"
	LinkDown = "down"
)

// Who re-routes traffic around a link set down (LinkState.Rerouting).
const (
	// RerouteController: the lab's controller hears of the failure from
	// the agents and re-routes policies and the static underlay.
	RerouteController = "controller"
	// RerouteISIS: IS-IS re-routes the underlay (no controller: policies
	// are not re-computed).
	RerouteISIS = "isis"
	// RerouteNone: static routing without a controller; nothing re-routes,
	// traffic over the link is lost until it is up again.
	RerouteNone = "none"
)

// LinkState is the result of setting a link down or up: both of its ends
// (node:interface, the topology's A end first) and who re-routes.
type LinkState struct {
	Lab       string    `json:"lab"`
	Endpoints [2]string `json:"endpoints"`
	State     string    `json:"state"`     // LinkUp or LinkDown, as set (both ends)
	Rerouting string    `json:"rerouting"` // RerouteController, RerouteISIS or RerouteNone
	Note      string    `json:"note"`      // one sentence for a person: what happens to traffic
}

// Impairment sources.
const (
	// ImpairTopology: the link's loss and rate of the topology file, on
	// the egress of both ends.
	ImpairTopology = "topology"
	// ImpairRuntime: set at runtime (`sr6 lab impair`) on the egress of
	// one interface; it replaces the topology's there.
	ImpairRuntime = "runtime"
)

// Impairment is what is done to the packets leaving one interface (its
// egress): random loss, a rate limit, a delay with jitter. Zero fields are
// unset; an Impairment with all of them zero means "none".
type Impairment struct {
	Node        string  `json:"node"`
	Interface   string  `json:"interface"`
	LossPercent float64 `json:"loss_percent,omitempty"` // 0 to 100, steps of 0.01
	RateBps     uint64  `json:"rate_bps,omitempty"`     // bit/s
	DelayUs     uint32  `json:"delay_us,omitempty"`     // microseconds (needs netem)
	JitterUs    uint32  `json:"jitter_us,omitempty"`    // microseconds (needs netem)
	Source      string  `json:"source"`                 // ImpairTopology or ImpairRuntime
}

// None tells whether the impairment does nothing.
func (i Impairment) None() bool {
	return i.LossPercent == 0 && i.RateBps == 0 && i.DelayUs == 0 && i.JitterUs == 0
}

// CaptureSummary is what a stopped capture reports (on stderr for the
// CLI, whose stdout may be the pcap stream itself).
type CaptureSummary struct {
	Lab       string `json:"lab"`
	Node      string `json:"node"`
	Interface string `json:"interface"`
	Filter    string `json:"filter,omitempty"`
	Packets   uint64 `json:"packets"` // written to the pcap stream
	// DroppedByKernel counts packets the capture socket could not keep up
	// with (tcpdump's "dropped by kernel").
	DroppedByKernel uint64 `json:"dropped_by_kernel"`
	// ReaderClosed: the capture ended because the reader of the stream
	// closed it (a pipe into `tcpdump -c N -r -`); the counts are then
	// unknown (0).
	ReaderClosed bool `json:"reader_closed,omitempty"`
}

// InterfaceStats is one interface in one stats sample: rates over the
// sample's interval and the kernel's counters at its end.
type InterfaceStats struct {
	Node      string  `json:"node"`
	Interface string  `json:"interface"`
	Peer      string  `json:"peer"`  // node:interface at the other end
	State     string  `json:"state"` // kernel operstate (up, down, lowerlayerdown)
	RxBps     float64 `json:"rx_bps"`
	TxBps     float64 `json:"tx_bps"`
	RxPps     float64 `json:"rx_pps"`
	TxPps     float64 `json:"tx_pps"`
	// Totals since the interface was created.
	RxBytes   uint64 `json:"rx_bytes"`
	TxBytes   uint64 `json:"tx_bytes"`
	RxPackets uint64 `json:"rx_packets"`
	TxPackets uint64 `json:"tx_packets"`
	RxDropped uint64 `json:"rx_dropped"`
	TxDropped uint64 `json:"tx_dropped"`
	RxErrors  uint64 `json:"rx_errors"`
	TxErrors  uint64 `json:"tx_errors"`
}

// StatsSample is one sample of a lab's interface counters, taken every
// interval (one second by default): one JSON line of `sr6 lab stats
// --json`, one event of the web UI's live link load.
type StatsSample struct {
	Lab        string           `json:"lab"`
	Time       time.Time        `json:"time"`       // when the sample was read
	IntervalS  float64          `json:"interval_s"` // seconds since the previous sample
	Interfaces []InterfaceStats `json:"interfaces"` // by node, then interface, in topology order
}
