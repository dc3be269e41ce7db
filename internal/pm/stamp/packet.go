package stamp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Byte offsets of the unauthenticated test packets: RFC 8762 §4.2.1
// (Session-Sender) and §4.3.1 (Session-Reflector), with the SSID of
// RFC 8972 §3 in the first two octets that RFC 8762 left as MBZ.
const (
	offSeq          = 0
	offTimestamp    = 4
	offErrorEst     = 12
	offSSID         = 14
	offReceiveTS    = 16 // reflector only, from here on
	offSenderSeq    = 24
	offSenderTS     = 28
	offSenderErrEst = 36
	offSenderTTL    = 40
)

const (
	// MinPacketLen is the length of both unauthenticated packets without
	// TLVs; RFC 8762 pads the sender's packet so that both are equal and
	// the reflected packet is never larger than the probe (no
	// amplification).
	MinPacketLen = 44
	// MaxPacketLen is the largest UDP payload over IPv4.
	MaxPacketLen = 65507

	// TLVExtraPadding is the RFC 8972 §4.1 Extra Padding TLV type, the
	// one TLV this package sends and recognises.
	TLVExtraPadding = 1

	tlvHeaderLen = 4
	tlvFlagU     = 0x80 // unrecognized type (set by the reflector)
	tlvFlagM     = 0x40 // malformed (set by the reflector)
)

// Decoding errors, wrapped with the details; test with errors.Is.
var (
	ErrShort     = errors.New("packet too short")
	ErrTimestamp = errors.New("invalid timestamp")
)

// ntpEpochOffset is the number of seconds from the NTP epoch (1900-01-01)
// to the Unix epoch (1970-01-01).
const ntpEpochOffset = 2208988800

// Timestamp is a 64-bit timestamp as carried on the wire. In NTP format
// (RFC 5905 §6, what this package sends) the high 32 bits are seconds since
// 1900-01-01 UTC and the low 32 bits a binary fraction of a second, so one
// unit is 2^-32 s (about 233 ps) and time.Time's nanoseconds survive a
// round trip exactly. When the Error Estimate that goes with it has its Z
// bit set, it is in the truncated PTPv2 format instead (seconds since
// 1970, then nanoseconds); ErrorEstimate.Time reads either.
//
// The value 0 means "no time" and maps to and from the zero time.Time.
type Timestamp uint64

// NTPTimestamp encodes t in NTP format, rounded to the nearest 2^-32 s.
// Seconds are taken modulo 2^32, so times from 1968 to 2104 survive
// (see Timestamp.Time).
func NTPTimestamp(t time.Time) Timestamp {
	if t.IsZero() {
		return 0
	}
	sec := t.Unix() + ntpEpochOffset
	frac := (uint64(t.Nanosecond())<<32 + 5e8) / 1e9 // < 2^32: ns < 1e9
	return Timestamp(uint64(uint32(sec))<<32 | frac)
}

// PTPTimestamp encodes t in the truncated PTPv2 format (seconds since 1970
// modulo 2^32, then nanoseconds).
func PTPTimestamp(t time.Time) Timestamp {
	if t.IsZero() {
		return 0
	}
	return Timestamp(uint64(uint32(t.Unix()))<<32 | uint64(t.Nanosecond()))
}

// Time decodes an NTP-format timestamp, to the nearest nanosecond, in UTC.
// NTP seconds wrap in February 2036 (era 1, RFC 5905 §6); values below
// 2^31 are read as era 1, so the decoded range is 1968 to 2104.
func (ts Timestamp) Time() time.Time {
	if ts == 0 {
		return time.Time{}
	}
	sec := int64(ts >> 32)
	if sec < 1<<31 {
		sec += 1 << 32
	}
	nsec := (uint64(uint32(ts))*1e9 + 1<<31) >> 32
	return time.Unix(sec-ntpEpochOffset, int64(nsec)).UTC()
}

// PTPTime decodes a truncated PTPv2 timestamp in UTC (1970 to 2106).
func (ts Timestamp) PTPTime() time.Time {
	if ts == 0 {
		return time.Time{}
	}
	return time.Unix(int64(ts>>32), int64(uint32(ts))).UTC()
}

// ErrorEstimate is the 16-bit Error Estimate field of RFC 8762 §4.2.1
// (the format of RFC 4656 §4.1.2 plus the Z bit): the estimated error of
// the timestamps it goes with, Multiplier × 2^(Scale-32) seconds.
type ErrorEstimate struct {
	Synchronized bool  // S: the clock is synchronized to UTC by an external source
	PTP          bool  // Z: timestamps are in PTPv2 format (this package sends NTP)
	Scale        uint8 // 6 bits; higher bits are dropped on the wire
	Multiplier   uint8 // RFC 4656 forbids 0; the zero ErrorEstimate means "not set"
}

const (
	eeSync  = 0x8000
	eePTP   = 0x4000
	eeScale = 0x3f00
)

func (e ErrorEstimate) wire() uint16 {
	w := uint16(e.Scale&0x3f)<<8 | uint16(e.Multiplier)
	if e.Synchronized {
		w |= eeSync
	}
	if e.PTP {
		w |= eePTP
	}
	return w
}

func parseErrorEstimate(w uint16) ErrorEstimate {
	return ErrorEstimate{
		Synchronized: w&eeSync != 0,
		PTP:          w&eePTP != 0,
		Scale:        uint8((w & eeScale) >> 8),
		Multiplier:   uint8(w),
	}
}

// Duration is the error the estimate stands for, rounded to the
// nanosecond (saturating at the largest time.Duration).
func (e ErrorEstimate) Duration() time.Duration {
	ns := float64(e.Multiplier) * math.Ldexp(1e9, int(e.Scale&0x3f)-32)
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(math.Round(ns))
}

// ErrorEstimateFor returns the most precise NTP-format estimate of at
// least d: the smallest Scale whose Multiplier still fits in 8 bits.
// A d of zero or less gives the smallest estimate that RFC 4656 allows
// (Multiplier 1, Scale 0: 2^-32 s).
func ErrorEstimateFor(d time.Duration, synchronized bool) ErrorEstimate {
	e := ErrorEstimate{Synchronized: synchronized, Multiplier: 1}
	if d <= 0 {
		return e
	}
	sec := d.Seconds()
	for scale := 0; scale < 64; scale++ {
		m := math.Ceil(sec * math.Ldexp(1, 32-scale))
		if m <= 255 {
			e.Scale, e.Multiplier = uint8(scale), uint8(max(m, 1))
			return e
		}
	}
	e.Scale, e.Multiplier = 63, 255
	return e
}

// Time decodes ts in the format the Z bit of e names.
func (e ErrorEstimate) Time(ts Timestamp) time.Time {
	if e.PTP {
		return ts.PTPTime()
	}
	return ts.Time()
}

// checkTimestamp rejects what cannot be a timestamp in the format e names:
// a PTP nanoseconds field of a second or more.
func checkTimestamp(ts Timestamp, e ErrorEstimate) error {
	if e.PTP && uint32(ts) >= 1e9 {
		return fmt.Errorf("%w: PTP nanoseconds field %d is not below 10^9", ErrTimestamp, uint32(ts))
	}
	return nil
}

// SenderPacket is the unauthenticated Session-Sender test packet
// (RFC 8762 §4.2.1, RFC 8972 §3):
//
//	 0: Sequence Number (4)
//	 4: Timestamp (8)
//	12: Error Estimate (2)   14: SSID (2)
//	16: MBZ (28)
//	44: TLVs (optional)
type SenderPacket struct {
	Seq           uint32
	Timestamp     Timestamp // T1
	ErrorEstimate ErrorEstimate
	SSID          uint16 // RFC 8972 Session-Sender Identifier; 0 from a plain RFC 8762 sender
	// TLVs is everything after the 44-byte base: RFC 8972 TLVs, such as
	// the Extra Padding TLV that brings the packet to the requested size.
	// Decoding aliases the input.
	TLVs []byte
}

// Len is the encoded length.
func (p *SenderPacket) Len() int { return MinPacketLen + len(p.TLVs) }

// Append appends the encoded packet to b; MBZ octets are zero.
func (p *SenderPacket) Append(b []byte) []byte {
	var base [MinPacketLen]byte
	binary.BigEndian.PutUint32(base[offSeq:], p.Seq)
	binary.BigEndian.PutUint64(base[offTimestamp:], uint64(p.Timestamp))
	binary.BigEndian.PutUint16(base[offErrorEst:], p.ErrorEstimate.wire())
	binary.BigEndian.PutUint16(base[offSSID:], p.SSID)
	return append(append(b, base[:]...), p.TLVs...)
}

// DecodeSender decodes a Session-Sender packet. MBZ octets are ignored, as
// RFC 8762 asks of a receiver; apart from the length and the timestamp
// format nothing distinguishes garbage from a probe, since every other
// field may hold any value.
func DecodeSender(b []byte) (SenderPacket, error) {
	if len(b) < MinPacketLen {
		return SenderPacket{}, fmt.Errorf("stamp: sender packet of %d bytes: %w (the minimum is %d)", len(b), ErrShort, MinPacketLen)
	}
	p := SenderPacket{
		Seq:           binary.BigEndian.Uint32(b[offSeq:]),
		Timestamp:     Timestamp(binary.BigEndian.Uint64(b[offTimestamp:])),
		ErrorEstimate: parseErrorEstimate(binary.BigEndian.Uint16(b[offErrorEst:])),
		SSID:          binary.BigEndian.Uint16(b[offSSID:]),
	}
	if err := checkTimestamp(p.Timestamp, p.ErrorEstimate); err != nil {
		return SenderPacket{}, fmt.Errorf("stamp: sender packet timestamp: %w", err)
	}
	if len(b) > MinPacketLen {
		p.TLVs = b[MinPacketLen:]
	}
	return p, nil
}

// ReflectorPacket is the unauthenticated Session-Reflector test packet
// (RFC 8762 §4.3.1, RFC 8972 §3):
//
//	 0: Sequence Number (4)
//	 4: Timestamp (8)
//	12: Error Estimate (2)                 14: SSID (2)
//	16: Receive Timestamp (8)
//	24: Session-Sender Sequence Number (4)
//	28: Session-Sender Timestamp (8)
//	36: Session-Sender Error Estimate (2)  38: MBZ (2)
//	40: Ses-Sender TTL (1)                 41: MBZ (3)
//	44: TLVs (optional)
type ReflectorPacket struct {
	// Seq is the sender's sequence number (stateless reflector) or the
	// reflector's count of the session's packets (stateful).
	Seq                 uint32
	Timestamp           Timestamp // T3
	ErrorEstimate       ErrorEstimate
	SSID                uint16
	ReceiveTimestamp    Timestamp // T2
	SenderSeq           uint32
	SenderTimestamp     Timestamp // T1, copied back
	SenderErrorEstimate ErrorEstimate
	SenderTTL           uint8 // TTL / Hop Limit the probe arrived with
	TLVs                []byte
}

// Len is the encoded length.
func (p *ReflectorPacket) Len() int { return MinPacketLen + len(p.TLVs) }

// Append appends the encoded packet to b; MBZ octets are zero.
func (p *ReflectorPacket) Append(b []byte) []byte {
	var base [MinPacketLen]byte
	p.putBase(base[:])
	return append(append(b, base[:]...), p.TLVs...)
}

// putBase writes the 44-byte base into b, which the reflector does in
// place over the probe it reflects.
func (p *ReflectorPacket) putBase(b []byte) {
	b = b[:MinPacketLen]
	binary.BigEndian.PutUint32(b[offSeq:], p.Seq)
	binary.BigEndian.PutUint64(b[offTimestamp:], uint64(p.Timestamp))
	binary.BigEndian.PutUint16(b[offErrorEst:], p.ErrorEstimate.wire())
	binary.BigEndian.PutUint16(b[offSSID:], p.SSID)
	binary.BigEndian.PutUint64(b[offReceiveTS:], uint64(p.ReceiveTimestamp))
	binary.BigEndian.PutUint32(b[offSenderSeq:], p.SenderSeq)
	binary.BigEndian.PutUint64(b[offSenderTS:], uint64(p.SenderTimestamp))
	binary.BigEndian.PutUint16(b[offSenderErrEst:], p.SenderErrorEstimate.wire())
	b[38], b[39] = 0, 0
	b[offSenderTTL] = p.SenderTTL
	b[41], b[42], b[43] = 0, 0, 0
}

// DecodeReflector decodes a Session-Reflector packet, with the same rules
// as DecodeSender; each timestamp is checked against the format of the
// Error Estimate that goes with it.
func DecodeReflector(b []byte) (ReflectorPacket, error) {
	if len(b) < MinPacketLen {
		return ReflectorPacket{}, fmt.Errorf("stamp: reflector packet of %d bytes: %w (the minimum is %d)", len(b), ErrShort, MinPacketLen)
	}
	p := ReflectorPacket{
		Seq:                 binary.BigEndian.Uint32(b[offSeq:]),
		Timestamp:           Timestamp(binary.BigEndian.Uint64(b[offTimestamp:])),
		ErrorEstimate:       parseErrorEstimate(binary.BigEndian.Uint16(b[offErrorEst:])),
		SSID:                binary.BigEndian.Uint16(b[offSSID:]),
		ReceiveTimestamp:    Timestamp(binary.BigEndian.Uint64(b[offReceiveTS:])),
		SenderSeq:           binary.BigEndian.Uint32(b[offSenderSeq:]),
		SenderTimestamp:     Timestamp(binary.BigEndian.Uint64(b[offSenderTS:])),
		SenderErrorEstimate: parseErrorEstimate(binary.BigEndian.Uint16(b[offSenderErrEst:])),
		SenderTTL:           b[offSenderTTL],
	}
	for _, f := range []struct {
		name string
		ts   Timestamp
		ee   ErrorEstimate
	}{
		{"timestamp", p.Timestamp, p.ErrorEstimate},
		{"receive timestamp", p.ReceiveTimestamp, p.ErrorEstimate},
		{"session-sender timestamp", p.SenderTimestamp, p.SenderErrorEstimate},
	} {
		if err := checkTimestamp(f.ts, f.ee); err != nil {
			return ReflectorPacket{}, fmt.Errorf("stamp: reflector packet %s: %w", f.name, err)
		}
	}
	if len(b) > MinPacketLen {
		p.TLVs = b[MinPacketLen:]
	}
	return p, nil
}

// PaddingTLVs returns the TLVs that bring a test packet to size bytes: none
// for MinPacketLen, else one RFC 8972 Extra Padding TLV (4-byte header,
// zero value). Sizes 45 to 47 cannot be reached with a TLV and are
// rejected, as are sizes outside [MinPacketLen, MaxPacketLen].
func PaddingTLVs(size int) ([]byte, error) {
	switch {
	case size == MinPacketLen:
		return nil, nil
	case size < MinPacketLen || size > MaxPacketLen:
		return nil, fmt.Errorf("stamp: packet size %d is outside [%d, %d]", size, MinPacketLen, MaxPacketLen)
	case size < MinPacketLen+tlvHeaderLen:
		return nil, fmt.Errorf("stamp: packet size %d: padding beyond %d bytes is an Extra Padding TLV of at least %d bytes", size, MinPacketLen, tlvHeaderLen)
	}
	tlv := make([]byte, size-MinPacketLen)
	tlv[1] = TLVExtraPadding
	binary.BigEndian.PutUint16(tlv[2:], uint16(len(tlv)-tlvHeaderLen))
	return tlv, nil
}

// reflectTLVs processes the TLVs of a probe in place for the reply, as
// RFC 8972 §4 asks of a reflector: every TLV goes back, with the U flag set
// on a type it does not recognise (all but Extra Padding) and the M flag
// on one whose length overruns the packet, where the walk stops. Trailing
// octets too short for a TLV header are reflected unchanged.
func reflectTLVs(b []byte) {
	for len(b) >= tlvHeaderLen {
		n := tlvHeaderLen + int(binary.BigEndian.Uint16(b[2:]))
		if n > len(b) {
			b[0] |= tlvFlagM
			return
		}
		if b[1] != TLVExtraPadding {
			b[0] |= tlvFlagU
		}
		b = b[n:]
	}
}
