package topo

import (
	"math/big"
	"net/netip"
)

// Address arithmetic the plan needs (the n-th subnet of a pool, an offset
// inside a subnet). net/netip has no such operations and netipx only works
// on ranges, so these few lines are written here.

func addrInt(a netip.Addr) *big.Int {
	b := a.AsSlice()
	return new(big.Int).SetBytes(b)
}

func intAddr(v *big.Int, is4 bool) netip.Addr {
	n := 16
	if is4 {
		n = 4
	}
	buf := make([]byte, n)
	v.FillBytes(buf)
	a, _ := netip.AddrFromSlice(buf)
	return a
}

// nthSubnet returns subnet i (0-based) of length bits inside pool, and false
// when the pool has no such subnet.
func nthSubnet(pool netip.Prefix, bits int, i uint64) (netip.Prefix, bool) {
	total := pool.Addr().BitLen()
	if bits < pool.Bits() || bits > total {
		return netip.Prefix{}, false
	}
	room := bits - pool.Bits()
	if room < 64 && i>>uint(room) != 0 {
		return netip.Prefix{}, false
	}
	off := new(big.Int).Lsh(new(big.Int).SetUint64(i), uint(total-bits))
	a := intAddr(off.Add(off, addrInt(pool.Addr())), pool.Addr().Is4())
	return netip.PrefixFrom(a, bits), true
}

// subnetIndexAfter returns the index of the first subnet of length bits in
// pool that starts after r, which overlaps the pool, ends; false when that
// index does not fit a uint64.
func subnetIndexAfter(pool netip.Prefix, bits int, r netip.Prefix) (uint64, bool) {
	v := new(big.Int).Sub(addrInt(lastAddr(r)), addrInt(pool.Addr()))
	v.Rsh(v, uint(pool.Addr().BitLen()-bits))
	v.Add(v, big.NewInt(1))
	return v.Uint64(), v.IsUint64()
}

// hostAddr returns the n-th address of subnet p with p's length.
func hostAddr(p netip.Prefix, n uint64) netip.Prefix {
	v := addrInt(p.Addr())
	v.Add(v, new(big.Int).SetUint64(n))
	return netip.PrefixFrom(intAddr(v, p.Addr().Is4()), p.Bits())
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	total := p.Addr().BitLen()
	span := new(big.Int).Lsh(big.NewInt(1), uint(total-p.Bits()))
	span.Sub(span, big.NewInt(1))
	return intAddr(span.Add(span, addrInt(p.Addr())), p.Addr().Is4())
}
