package stamp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNTPTimestamp(t *testing.T) {
	tests := []struct {
		name string
		t    time.Time
		want Timestamp
	}{
		{"zero time is no time", time.Time{}, 0},
		{"unix epoch", time.Unix(0, 0), 0x83aa7e80_00000000},
		{"half a second", time.Unix(0, 500_000_000), 0x83aa7e80_80000000},
		{"one nanosecond rounds to 4 units", time.Unix(0, 1), 0x83aa7e80_00000004},
		{"y2k", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), 0xbc17c200_00000000},
		{"era 1 starts 2036-02-07T06:28:16Z", time.Date(2036, 2, 7, 6, 28, 17, 0, time.UTC), 0x00000001_00000000},
		{"last nanosecond of a second", time.Unix(0, 999_999_999), 0x83aa7e80_fffffffc},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NTPTimestamp(tt.t); got != tt.want {
				t.Fatalf("NTPTimestamp(%s) = %#x, want %#x", tt.t, uint64(got), uint64(tt.want))
			}
			if back := tt.want.Time(); !back.Equal(tt.t) {
				t.Fatalf("%#x.Time() = %s, want %s", uint64(tt.want), back, tt.t)
			}
		})
	}
}

func TestTimestampRoundTripNanoseconds(t *testing.T) {
	// 2^-32 s is finer than a nanosecond: every nanosecond survives.
	starts := []time.Time{
		time.Date(1970, 1, 1, 0, 0, 1, 0, time.UTC), // 0 in either format is "no time"
		time.Date(2025, 6, 30, 23, 59, 59, 0, time.UTC),
		time.Date(2036, 2, 7, 6, 28, 15, 0, time.UTC), // across the NTP era boundary
		time.Date(2100, 12, 31, 0, 0, 0, 0, time.UTC),
	}
	for _, start := range starts {
		for ns := int64(0); ns < 3e9; ns += 7_777_777 {
			tm := start.Add(time.Duration(ns))
			if got := NTPTimestamp(tm).Time(); !got.Equal(tm) {
				t.Fatalf("NTP round trip of %s gave %s", tm, got)
			}
			if got := PTPTimestamp(tm).PTPTime(); !got.Equal(tm) {
				t.Fatalf("PTP round trip of %s gave %s", tm, got)
			}
		}
	}
}

func TestErrorEstimate(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		sync bool
		want ErrorEstimate
		wire uint16
	}{
		{"nothing is the smallest allowed", 0, false, ErrorEstimate{Scale: 0, Multiplier: 1}, 0x0001},
		{"1 s", time.Second, true, ErrorEstimate{Synchronized: true, Scale: 25, Multiplier: 128}, 0x9980},
		{"1 us", time.Microsecond, true, ErrorEstimate{Synchronized: true, Scale: 5, Multiplier: 135}, 0x8587},
		{"16 s unsynchronized", 16 * time.Second, false, ErrorEstimate{Scale: 29, Multiplier: 128}, 0x1d80},
		{"the longest duration", math.MaxInt64, false, ErrorEstimate{Scale: 58, Multiplier: 138}, 0x3a8a},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ErrorEstimateFor(tt.d, tt.sync)
			if got != tt.want {
				t.Fatalf("ErrorEstimateFor(%s) = %+v, want %+v", tt.d, got, tt.want)
			}
			if w := got.wire(); w != tt.wire {
				t.Fatalf("wire = %#04x, want %#04x", w, tt.wire)
			}
			if back := parseErrorEstimate(tt.wire); back != tt.want {
				t.Fatalf("parse(%#04x) = %+v, want %+v", tt.wire, back, tt.want)
			}
		})
	}
	// The estimate never understates and is the finest that fits.
	for d := time.Duration(1); d < 100*time.Second; d = d*3 + 7 {
		e := ErrorEstimateFor(d, false)
		if e.Duration() < d {
			t.Fatalf("ErrorEstimateFor(%s) = %+v = %s, less than asked", d, e, e.Duration())
		}
		if e.Scale > 0 && e.Multiplier <= 127 {
			t.Fatalf("ErrorEstimateFor(%s) = %+v: scale %d would fit", d, e, e.Scale-1)
		}
	}
	if got := (ErrorEstimate{Scale: 32, Multiplier: 1}).Duration(); got != time.Second {
		t.Fatalf("1 × 2^0 s = %s", got)
	}
	if got := (ErrorEstimate{Scale: 63, Multiplier: 255}).Duration(); got != math.MaxInt64 {
		t.Fatalf("255 × 2^31 s = %s, want the saturated maximum", got)
	}
	ptp := parseErrorEstimate(0x4001)
	if !ptp.PTP || ptp.Synchronized {
		t.Fatalf("Z bit: %+v", ptp)
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The byte layouts below are written from the RFC 8762 §4.2.1 / §4.3.1
// and RFC 8972 §3 diagrams, one 32-bit row per line.
func TestSenderPacketLayout(t *testing.T) {
	p := SenderPacket{
		Seq:           0x01020304,
		Timestamp:     0x1112131415161718,
		ErrorEstimate: ErrorEstimate{Synchronized: true, Scale: 0x21, Multiplier: 0x42},
		SSID:          0xbeef,
	}
	want := mustHex(t, `
		01020304
		11121314 15161718
		a142 beef
		00000000 00000000 00000000 00000000 00000000 00000000 00000000`)
	got := p.Append(nil)
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", got, want)
	}
	if len(got) != MinPacketLen || p.Len() != MinPacketLen {
		t.Fatalf("length %d / Len %d, want %d", len(got), p.Len(), MinPacketLen)
	}
	back, err := DecodeSender(want)
	if err != nil {
		t.Fatal(err)
	}
	if back.Seq != p.Seq || back.Timestamp != p.Timestamp || back.ErrorEstimate != p.ErrorEstimate || back.SSID != p.SSID || back.TLVs != nil {
		t.Fatalf("decoded %+v, want %+v", back, p)
	}
}

func TestReflectorPacketLayout(t *testing.T) {
	p := ReflectorPacket{
		Seq:                 0x0a0b0c0d,
		Timestamp:           0x3132333435363738,
		ErrorEstimate:       ErrorEstimate{Synchronized: true, Scale: 5, Multiplier: 135},
		SSID:                0x0102,
		ReceiveTimestamp:    0x2122232425262728,
		SenderSeq:           0x01020304,
		SenderTimestamp:     0x1112131415161718,
		SenderErrorEstimate: ErrorEstimate{PTP: true, Scale: 1, Multiplier: 2},
		SenderTTL:           0xfe,
		TLVs:                []byte{0, TLVExtraPadding, 0, 0},
	}
	want := mustHex(t, `
		0a0b0c0d
		31323334 35363738
		8587 0102
		21222324 25262728
		01020304
		11121314 15161718
		4102 0000
		fe000000
		00010000`)
	got := p.Append(nil)
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", got, want)
	}
	back, err := DecodeReflector(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.TLVs, p.TLVs) {
		t.Fatalf("TLVs %x, want %x", back.TLVs, p.TLVs)
	}
	back.TLVs, p.TLVs = nil, nil
	if !reflect.DeepEqual(back, p) {
		t.Fatalf("decoded %+v, want %+v", back, p)
	}
}

func TestPacketRoundTrip(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	pad, err := PaddingTLVs(128)
	if err != nil {
		t.Fatal(err)
	}
	senders := []SenderPacket{
		{},
		{Seq: 1, Timestamp: NTPTimestamp(now), ErrorEstimate: ErrorEstimateFor(time.Millisecond, true), SSID: 7},
		{Seq: 0xffffffff, Timestamp: PTPTimestamp(now), ErrorEstimate: ErrorEstimate{PTP: true, Multiplier: 1}, SSID: 0xffff, TLVs: pad},
	}
	for _, p := range senders {
		b := p.Append([]byte("prefix"))[len("prefix"):]
		if len(b) != p.Len() {
			t.Fatalf("%+v: %d bytes, Len %d", p, len(b), p.Len())
		}
		got, err := DecodeSender(b)
		if err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		if got.Seq != p.Seq || got.Timestamp != p.Timestamp || got.ErrorEstimate != p.ErrorEstimate || got.SSID != p.SSID || !bytes.Equal(got.TLVs, p.TLVs) {
			t.Fatalf("round trip %+v gave %+v", p, got)
		}
		if got.ErrorEstimate.PTP {
			if !got.ErrorEstimate.Time(got.Timestamp).Equal(now) {
				t.Fatalf("PTP time %s", got.ErrorEstimate.Time(got.Timestamp))
			}
		}
	}
	reflectors := []ReflectorPacket{
		{},
		{Seq: 9, Timestamp: NTPTimestamp(now.Add(time.Microsecond)), ErrorEstimate: ErrorEstimate{Synchronized: true, Multiplier: 3},
			SSID: 7, ReceiveTimestamp: NTPTimestamp(now), SenderSeq: 12, SenderTimestamp: NTPTimestamp(now.Add(-time.Millisecond)),
			SenderErrorEstimate: ErrorEstimate{Scale: 63, Multiplier: 255}, SenderTTL: 250, TLVs: pad},
	}
	for _, p := range reflectors {
		got, err := DecodeReflector(p.Append(nil))
		if err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		if !bytes.Equal(got.TLVs, p.TLVs) {
			t.Fatalf("TLVs %x, want %x", got.TLVs, p.TLVs)
		}
		got.TLVs, p.TLVs = nil, nil
		if !reflect.DeepEqual(got, p) {
			t.Fatalf("round trip %+v gave %+v", p, got)
		}
	}
}

func TestDecodeBadInput(t *testing.T) {
	valid := (&SenderPacket{Seq: 1}).Append(nil)
	ptpBad := bytes.Clone(valid)
	copy(ptpBad[offErrorEst:], []byte{0x40, 0x01})                // Z bit
	copy(ptpBad[offTimestamp+4:], []byte{0x3b, 0x9a, 0xca, 0x00}) // 10^9 ns
	reflPTPBad := (&ReflectorPacket{SenderErrorEstimate: ErrorEstimate{PTP: true, Multiplier: 1}, SenderTimestamp: 0xffffffff}).Append(nil)
	tests := []struct {
		name    string
		in      []byte
		want    error
		message string
	}{
		{"nil", nil, ErrShort, "of 0 bytes"},
		{"one byte short", valid[:MinPacketLen-1], ErrShort, "of 43 bytes"},
		{"PTP nanoseconds out of range", ptpBad, ErrTimestamp, "1000000000"},
	}
	for _, tt := range tests {
		t.Run("sender/"+tt.name, func(t *testing.T) {
			_, err := DecodeSender(tt.in)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("DecodeSender: %v, want %v mentioning %q", err, tt.want, tt.message)
			}
		})
	}
	reflTests := append(tests[:2:2], struct {
		name    string
		in      []byte
		want    error
		message string
	}{"sender timestamp not PTP", reflPTPBad, ErrTimestamp, "session-sender timestamp"})
	for _, tt := range reflTests {
		t.Run("reflector/"+tt.name, func(t *testing.T) {
			_, err := DecodeReflector(tt.in)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("DecodeReflector: %v, want %v mentioning %q", err, tt.want, tt.message)
			}
		})
	}
	// MBZ octets are ignored on receipt (RFC 8762 §4.2.1).
	mbz := bytes.Clone(valid)
	for i := 16; i < MinPacketLen; i++ {
		mbz[i] = 0xff
	}
	if _, err := DecodeSender(mbz); err != nil {
		t.Fatalf("MBZ not ignored: %v", err)
	}
}

func TestPaddingTLVs(t *testing.T) {
	tests := []struct {
		size    int
		want    string // hex of the first 4 bytes, "" for none
		wantLen int
		err     bool
	}{
		{size: 44},
		{size: 48, want: "00010000", wantLen: 4},
		{size: 128, want: "00010050", wantLen: 84},
		{size: MaxPacketLen, want: "0001ffb3", wantLen: MaxPacketLen - 44},
		{size: 43, err: true},
		{size: 45, err: true},
		{size: 47, err: true},
		{size: MaxPacketLen + 1, err: true},
	}
	for _, tt := range tests {
		got, err := PaddingTLVs(tt.size)
		if (err != nil) != tt.err {
			t.Fatalf("PaddingTLVs(%d): error %v, want error %v", tt.size, err, tt.err)
		}
		if tt.err {
			continue
		}
		if len(got) != tt.wantLen || (tt.want != "" && hex.EncodeToString(got[:4]) != tt.want) {
			t.Fatalf("PaddingTLVs(%d) = %d bytes %x..., want %d bytes %s...", tt.size, len(got), got[:min(4, len(got))], tt.wantLen, tt.want)
		}
	}
}

func TestReflectTLVs(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"none", "", ""},
		{"extra padding unchanged", "00010002 abcd", "00010002 abcd"},
		{"unknown type gets U", "00070000", "80070000"},
		{"reserved type 0 gets U", "00000000 00000000", "80000000 80000000"},
		{"overrun gets M and stops", "00010001 ab 00070009 00", "00010001 ab 40070009 00"},
		{"trailing octets kept", "00010000 0000", "00010000 0000"},
		{"flags already set kept", "20070000", "a0070000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustHex(t, tt.in)
			reflectTLVs(b)
			if want := mustHex(t, tt.want); !bytes.Equal(b, want) {
				t.Fatalf("got %x, want %x", b, want)
			}
		})
	}
}

// zeroMBZ returns b with the MBZ octets of a sender (refl false) or
// reflector packet cleared: what re-encoding a decoded packet gives.
func zeroMBZ(b []byte, refl bool) []byte {
	b = bytes.Clone(b)
	if refl {
		b[38], b[39], b[41], b[42], b[43] = 0, 0, 0, 0, 0
	} else {
		clear(b[16:MinPacketLen])
	}
	return b
}

func FuzzDecode(f *testing.F) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	pad, _ := PaddingTLVs(64)
	f.Add([]byte{})
	f.Add(make([]byte, MinPacketLen-1))
	f.Add((&SenderPacket{Seq: 3, Timestamp: NTPTimestamp(now), ErrorEstimate: ErrorEstimateFor(time.Millisecond, true), SSID: 9}).Append(nil))
	f.Add((&SenderPacket{Seq: 4, Timestamp: PTPTimestamp(now), ErrorEstimate: ErrorEstimate{PTP: true, Multiplier: 1}, TLVs: pad}).Append(nil))
	f.Add((&SenderPacket{Seq: 5, TLVs: []byte{0, 9, 0, 200, 1}}).Append(nil))
	f.Add((&ReflectorPacket{Seq: 1, Timestamp: NTPTimestamp(now), ReceiveTimestamp: NTPTimestamp(now), SenderSeq: 1,
		SenderTimestamp: NTPTimestamp(now), SenderTTL: 64, TLVs: pad}).Append(nil))
	r := NewReflector(ReflectorConfig{Mode: Stateful, ErrorEstimate: ErrorEstimate{Multiplier: 1}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	clk := newClock(r.ee)
	src := netip.MustParseAddrPort("192.0.2.1:862")
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := DecodeSender(b); err == nil {
			if got, want := p.Append(nil), zeroMBZ(b, false); !bytes.Equal(got, want) {
				t.Fatalf("sender re-encoding\n%x\nwant\n%x", got, want)
			}
		} else if !errors.Is(err, ErrShort) && !errors.Is(err, ErrTimestamp) {
			t.Fatalf("DecodeSender: unexpected error %v", err)
		}
		if p, err := DecodeReflector(b); err == nil {
			if got, want := p.Append(nil), zeroMBZ(b, true); !bytes.Equal(got, want) {
				t.Fatalf("reflector re-encoding\n%x\nwant\n%x", got, want)
			}
		} else if !errors.Is(err, ErrShort) && !errors.Is(err, ErrTimestamp) {
			t.Fatalf("DecodeReflector: unexpected error %v", err)
		}
		// Reflecting any input either refuses it or yields a reply of
		// the same length that decodes and names the probe.
		pkt := bytes.Clone(b)
		probe, perr := DecodeSender(b)
		err := r.reflect(pkt, src, now, now, 64, clk)
		if (err == nil) != (perr == nil) {
			t.Fatalf("reflect: %v, decode: %v", err, perr)
		}
		if err != nil {
			return
		}
		reply, err := DecodeReflector(pkt)
		if err != nil {
			t.Fatalf("reply does not decode: %v", err)
		}
		if len(pkt) != len(b) || reply.SenderSeq != probe.Seq || reply.SenderTimestamp != probe.Timestamp || reply.SSID != probe.SSID || reply.SenderTTL != 64 {
			t.Fatalf("reply %+v to probe %+v", reply, probe)
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	now := NTPTimestamp(time.Now())
	b.Run("sender", func(b *testing.B) {
		p := SenderPacket{Seq: 1, Timestamp: now, ErrorEstimate: ErrorEstimate{Multiplier: 1}, SSID: 1}
		buf := make([]byte, 0, MinPacketLen)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			p.Seq = uint32(i)
			buf = p.Append(buf[:0])
		}
	})
	b.Run("reflector", func(b *testing.B) {
		p := ReflectorPacket{Seq: 1, Timestamp: now, ReceiveTimestamp: now, SenderTimestamp: now, SenderTTL: 255}
		buf := make([]byte, 0, MinPacketLen)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			p.Seq = uint32(i)
			buf = p.Append(buf[:0])
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	now := NTPTimestamp(time.Now())
	b.Run("sender", func(b *testing.B) {
		buf := (&SenderPacket{Seq: 1, Timestamp: now, SSID: 1}).Append(nil)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeSender(buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reflector", func(b *testing.B) {
		buf := (&ReflectorPacket{Seq: 1, Timestamp: now, ReceiveTimestamp: now, SenderTimestamp: now}).Append(nil)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DecodeReflector(buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}
