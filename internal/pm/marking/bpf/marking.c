// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// Alternate marking (RFC 9341) for SRv6 policies, as tc programs.
//
// pm_mark runs on the egress of a headend's interfaces, after H.Encaps: a
// packet whose SRH segment list is registered in `policies` gets the
// current color written into one bit of its outer IPv6 header (`config`
// says which bit and which color) and is counted per (segment list, color).
// pm_count runs on the ingress of the tail's interfaces, before
// decapsulation: a registered packet with no segment left is counted per
// (segment list, color read from the packet).
//
// A policy is identified by its whole segment list, which the SRH carries
// unchanged from headend to tail; lists longer than MAX_SEGS are not
// measured.

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_SEGS 8
#define IPV6_HLEN 40
#define NEXTHDR_ROUTING 43
#define SRH_TYPE 4

struct seglist {
	__u32 n;
	__u8 segs[MAX_SEGS][16];
};

struct counter {
	__u64 packets;
	__u64 bytes;
};

// One entry per registered list: its counters, per color. Registration is
// the entry's existence, so a packet costs one lookup.
struct counters {
	struct counter color[2];
};

struct pm_config {
	__u32 color; // 0 or 1: the color pm_mark writes now
	__u32 mask;  // the bit of the first IPv6 header word (host order) that carries it
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pm_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct seglist);
	__type(value, struct counters);
} policies SEC(".maps");

struct srh {
	__u8 nexthdr;
	__u8 hdrlen;
	__u8 type;
	__u8 segments_left;
	__u8 last_entry;
	__u8 flags;
	__u16 tag;
};

// parse reads the outer IPv6 header's first word and the SRH segment list
// into list (zeroed beyond n, so equal lists give equal keys). It reads the
// packet directly when the headers are in its linear part, as they are for
// locally built and forwarded packets, and through bpf_skb_load_bytes
// otherwise.
static __always_inline int parse(struct __sk_buff *skb, struct seglist *list, __u32 *word, __u8 *left)
{
	if (skb->protocol != bpf_htons(ETH_P_IPV6))
		return -1;
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u8 *ip6 = data + ETH_HLEN;
	struct srh *srh = (void *)(ip6 + IPV6_HLEN);
	if ((void *)(srh + 1) <= end) {
		if (ip6[6] != NEXTHDR_ROUTING || srh->type != SRH_TYPE || srh->last_entry >= MAX_SEGS)
			return -1;
		__u32 n = srh->last_entry + 1;
		__u8 *seg = (__u8 *)(srh + 1);
		list->n = n;
		for (int i = 0; i < MAX_SEGS; i++) {
			if (i >= n)
				break;
			if ((void *)(seg + 16) > end)
				goto slow;
			__builtin_memcpy(list->segs[i], seg, 16);
			seg += 16;
		}
		__builtin_memcpy(word, ip6, 4);
		*left = srh->segments_left;
		return 0;
	}
slow:;
	__u8 hdr[IPV6_HLEN];
	if (bpf_skb_load_bytes(skb, ETH_HLEN, hdr, sizeof(hdr)))
		return -1;
	if (hdr[6] != NEXTHDR_ROUTING)
		return -1;
	struct srh s;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + IPV6_HLEN, &s, sizeof(s)))
		return -1;
	if (s.type != SRH_TYPE || s.last_entry >= MAX_SEGS)
		return -1;
	__u32 n = s.last_entry + 1;
	list->n = n;
	for (int i = 0; i < MAX_SEGS; i++) {
		if (i >= n)
			break;
		if (bpf_skb_load_bytes(skb, ETH_HLEN + IPV6_HLEN + sizeof(s) + i * 16, list->segs[i], 16))
			return -1;
	}
	__builtin_memcpy(word, hdr, 4);
	*left = s.segments_left;
	return 0;
}

// count adds one skb to a color: as many packets as the wire will carry
// (a GSO skb is segmented after tc egress, and a GRO skb was merged before
// tc ingress), so headend and tail agree whatever the offloads do.
static __always_inline void count(struct counters *c, __u32 color, struct __sk_buff *skb)
{
	__u32 segs = skb->gso_segs ? skb->gso_segs : 1;
	c->color[color & 1].packets += segs;
	c->color[color & 1].bytes += skb->len;
}

SEC("tc")
int pm_mark(struct __sk_buff *skb)
{
	struct seglist list = {};
	__u32 word;
	__u8 left;
	if (parse(skb, &list, &word, &left))
		return TC_ACT_OK;
	struct counters *c = bpf_map_lookup_elem(&policies, &list);
	if (!c)
		return TC_ACT_OK;
	__u32 zero = 0;
	struct pm_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || !cfg->mask)
		return TC_ACT_OK;
	__u32 host = bpf_ntohl(word);
	if (cfg->color)
		host |= cfg->mask;
	else
		host &= ~cfg->mask;
	word = bpf_htonl(host);
	if (bpf_skb_store_bytes(skb, ETH_HLEN, &word, sizeof(word), 0))
		return TC_ACT_OK;
	count(c, cfg->color, skb);
	return TC_ACT_OK;
}

SEC("tc")
int pm_count(struct __sk_buff *skb)
{
	struct seglist list = {};
	__u32 word;
	__u8 left;
	if (parse(skb, &list, &word, &left) || left != 0)
		return TC_ACT_OK;
	struct counters *c = bpf_map_lookup_elem(&policies, &list);
	if (!c)
		return TC_ACT_OK;
	__u32 zero = 0;
	struct pm_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || !cfg->mask)
		return TC_ACT_OK;
	count(c, (bpf_ntohl(word) & cfg->mask) ? 1 : 0, skb);
	return TC_ACT_OK;
}

char __license[] SEC("license") = "Dual BSD/GPL";
