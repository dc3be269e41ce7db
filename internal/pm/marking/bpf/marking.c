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

struct counter_key {
	struct seglist list;
	__u32 color;
};

struct counter {
	__u64 packets;
	__u64 bytes;
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
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct seglist);
	__type(value, __u32);
} policies SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct counter_key);
	__type(value, struct counter);
} counters SEC(".maps");

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
// into key (zeroed beyond n, so equal lists give equal keys).
static __always_inline int parse(struct __sk_buff *skb, struct counter_key *key, __u32 *word, __u8 *left)
{
	if (skb->protocol != bpf_htons(ETH_P_IPV6))
		return -1;
	__u8 ip6[IPV6_HLEN];
	if (bpf_skb_load_bytes(skb, ETH_HLEN, ip6, sizeof(ip6)))
		return -1;
	if (ip6[6] != NEXTHDR_ROUTING)
		return -1;
	struct srh srh;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + IPV6_HLEN, &srh, sizeof(srh)))
		return -1;
	if (srh.type != SRH_TYPE || srh.last_entry >= MAX_SEGS)
		return -1;
	__u32 n = srh.last_entry + 1;
	key->list.n = n;
	for (int i = 0; i < MAX_SEGS; i++) {
		if (i >= n)
			break;
		if (bpf_skb_load_bytes(skb, ETH_HLEN + IPV6_HLEN + sizeof(srh) + i * 16, key->list.segs[i], 16))
			return -1;
	}
	__builtin_memcpy(word, ip6, 4);
	*left = srh.segments_left;
	return 0;
}

static __always_inline void count(struct counter_key *key, __u32 len)
{
	struct counter *c = bpf_map_lookup_elem(&counters, key);
	if (c) {
		c->packets++;
		c->bytes += len;
		return;
	}
	struct counter first = {.packets = 1, .bytes = len};
	if (!bpf_map_update_elem(&counters, key, &first, BPF_NOEXIST))
		return;
	// Another CPU created the entry first; this CPU's slot in it is ours.
	c = bpf_map_lookup_elem(&counters, key);
	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

SEC("tc")
int pm_mark(struct __sk_buff *skb)
{
	struct counter_key key = {};
	__u32 word;
	__u8 left;
	if (parse(skb, &key, &word, &left))
		return TC_ACT_OK;
	if (!bpf_map_lookup_elem(&policies, &key.list))
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
	key.color = cfg->color ? 1 : 0;
	count(&key, skb->len);
	return TC_ACT_OK;
}

SEC("tc")
int pm_count(struct __sk_buff *skb)
{
	struct counter_key key = {};
	__u32 word;
	__u8 left;
	if (parse(skb, &key, &word, &left) || left != 0)
		return TC_ACT_OK;
	if (!bpf_map_lookup_elem(&policies, &key.list))
		return TC_ACT_OK;
	__u32 zero = 0;
	struct pm_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || !cfg->mask)
		return TC_ACT_OK;
	key.color = (bpf_ntohl(word) & cfg->mask) ? 1 : 0;
	count(&key, skb->len);
	return TC_ACT_OK;
}

char __license[] SEC("license") = "Dual BSD/GPL";
