/* SPDX-License-Identifier: Apache-2.0 */
/* 802.1Q on VM ports: BPF programs (raw instructions) attached with tc cls_bpf. */
#include "host/net/vlan.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "host/net/net_priv.h"

/* ---- a tiny BPF assembler ---- */

enum { R0, R1, R2, R3, R4, R5, R6 };
enum label { L_NONE, L_PASS, L_DROP, L_POP, L_INLINE, L_COUNT };

#define PROG_MAX 48

struct prog {
	struct bpf_insn insn[PROG_MAX];
	enum label jump_to[PROG_MAX]; /* for jumps: where to, fixed up at the end */
	int label_at[L_COUNT];
	unsigned n;
};

static void emit(struct prog *p, struct bpf_insn insn, enum label to)
{
	if (p->n >= PROG_MAX)
		abort(); /* the programs below are fixed and far smaller */
	p->jump_to[p->n] = to;
	p->insn[p->n++] = insn;
}

static void label(struct prog *p, enum label l)
{
	p->label_at[l] = (int)p->n;
}

static void link_jumps(struct prog *p)
{
	for (unsigned i = 0; i < p->n; i++)
		if (p->jump_to[i] != L_NONE)
			p->insn[i].off = (int16_t)(p->label_at[p->jump_to[i]] - (int)i - 1);
}

static struct bpf_insn mov_reg(int dst, int src)
{
	return (struct bpf_insn){ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = dst,
				  .src_reg = src };
}

static struct bpf_insn mov_imm(int dst, int32_t imm)
{
	return (struct bpf_insn){ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = dst,
				  .imm = imm };
}

static struct bpf_insn alu_imm(int op, int dst, int32_t imm)
{
	return (struct bpf_insn){ .code = BPF_ALU64 | op | BPF_K, .dst_reg = dst, .imm = imm };
}

/* dst = *(size *)(src + off) */
static struct bpf_insn load(int size, int dst, int src, int16_t off)
{
	return (struct bpf_insn){ .code = BPF_LDX | size | BPF_MEM, .dst_reg = dst,
				  .src_reg = src, .off = off };
}

static struct bpf_insn jmp_imm(int op, int dst, int32_t imm)
{
	return (struct bpf_insn){ .code = BPF_JMP | op | BPF_K, .dst_reg = dst, .imm = imm };
}

static struct bpf_insn jmp_reg(int op, int dst, int src)
{
	return (struct bpf_insn){ .code = BPF_JMP | op | BPF_X, .dst_reg = dst, .src_reg = src };
}

static struct bpf_insn jmp(void)
{
	return (struct bpf_insn){ .code = BPF_JMP | BPF_JA };
}

static struct bpf_insn call(int32_t helper)
{
	return (struct bpf_insn){ .code = BPF_JMP | BPF_CALL, .imm = helper };
}

static struct bpf_insn ret(void)
{
	return (struct bpf_insn){ .code = BPF_JMP | BPF_EXIT };
}

/* Network-order 16-bit values as the context fields hold them. */
#define BE16(x) ((int32_t)htons(x))
#define SKB(field) ((int16_t)offsetof(struct __sk_buff, field))

/* Ends a program: PASS returns TC_ACT_UNSPEC (next filter runs), DROP drops. */
static void emit_verdicts(struct prog *p)
{
	label(p, L_PASS);
	emit(p, mov_imm(R0, TC_ACT_UNSPEC), L_NONE);
	emit(p, ret(), L_NONE);
	label(p, L_DROP);
	emit(p, mov_imm(R0, TC_ACT_SHOT), L_NONE);
	emit(p, ret(), L_NONE);
	link_jumps(p);
}

/* Jumps to DROP if the frame carries an 802.1Q/802.1ad tag (R6 = skb). */
static void emit_drop_tagged(struct prog *p)
{
	emit(p, load(BPF_W, R2, R6, SKB(vlan_present)), L_NONE);
	emit(p, jmp_imm(BPF_JNE, R2, 0), L_DROP);
	emit(p, load(BPF_W, R2, R6, SKB(protocol)), L_NONE);
	emit(p, jmp_imm(BPF_JEQ, R2, BE16(ETH_P_8021Q)), L_DROP);
	emit(p, jmp_imm(BPF_JEQ, R2, BE16(ETH_P_8021AD)), L_DROP);
}

/* From the VM: no guest tags; on an access port, tag with vid. */
static void build_ingress(struct prog *p, unsigned vid)
{
	memset(p, 0, sizeof(*p));
	emit(p, mov_reg(R6, R1), L_NONE);
	emit_drop_tagged(p);
	if (vid != NET_VLAN_NONE) {
		emit(p, mov_reg(R1, R6), L_NONE);
		emit(p, mov_imm(R2, BE16(ETH_P_8021Q)), L_NONE);
		emit(p, mov_imm(R3, (int32_t)vid), L_NONE);
		emit(p, call(BPF_FUNC_skb_vlan_push), L_NONE);
		emit(p, jmp_imm(BPF_JNE, R0, 0), L_DROP);
	}
	emit_verdicts(p);
}

/* To the VM: on an access port only frames tagged vid, untagged; else untagged only. */
static void build_egress(struct prog *p, unsigned vid)
{
	memset(p, 0, sizeof(*p));
	emit(p, mov_reg(R6, R1), L_NONE);
	if (vid == NET_VLAN_NONE) {
		emit_drop_tagged(p);
		emit_verdicts(p);
		return;
	}
	/* Tag in the skb metadata (where the stack puts a received tag). */
	emit(p, load(BPF_W, R2, R6, SKB(vlan_present)), L_NONE);
	emit(p, jmp_imm(BPF_JEQ, R2, 0), L_INLINE);
	emit(p, load(BPF_W, R2, R6, SKB(vlan_proto)), L_NONE);
	emit(p, jmp_imm(BPF_JNE, R2, BE16(ETH_P_8021Q)), L_DROP);
	emit(p, load(BPF_W, R2, R6, SKB(vlan_tci)), L_NONE);
	emit(p, alu_imm(BPF_AND, R2, 0x0fff), L_NONE);
	emit(p, jmp_imm(BPF_JNE, R2, (int32_t)vid), L_DROP);
	emit(p, jmp(), L_POP);
	/* Tag still in the frame (defensive: the stack normally moves it out). */
	label(p, L_INLINE);
	emit(p, load(BPF_W, R2, R6, SKB(protocol)), L_NONE);
	emit(p, jmp_imm(BPF_JNE, R2, BE16(ETH_P_8021Q)), L_DROP);
	emit(p, load(BPF_W, R2, R6, SKB(data)), L_NONE);
	emit(p, load(BPF_W, R3, R6, SKB(data_end)), L_NONE);
	emit(p, mov_reg(R4, R2), L_NONE);
	emit(p, alu_imm(BPF_ADD, R4, ETH_HLEN + 2), L_NONE);
	emit(p, jmp_reg(BPF_JGT, R4, R3), L_DROP);
	emit(p, load(BPF_H, R4, R2, ETH_HLEN), L_NONE); /* the TCI */
	emit(p, (struct bpf_insn){ .code = BPF_ALU | BPF_END | BPF_TO_BE, .dst_reg = R4,
				   .imm = 16 },
	     L_NONE);
	emit(p, alu_imm(BPF_AND, R4, 0x0fff), L_NONE);
	emit(p, jmp_imm(BPF_JNE, R4, (int32_t)vid), L_DROP);
	label(p, L_POP);
	emit(p, mov_reg(R1, R6), L_NONE);
	emit(p, call(BPF_FUNC_skb_vlan_pop), L_NONE);
	emit(p, jmp_imm(BPF_JNE, R0, 0), L_DROP);
	emit_verdicts(p);
}

/* Loads a program; returns its fd or -errno with the verifier's last words. */
static int prog_load(const struct prog *p, const char *name, struct vr_error **err)
{
	_cleanup_free_ char *vlog = NULL;
	const size_t vlog_size = 65536;
	for (int attempt = 0; attempt < 2; attempt++) {
		union bpf_attr attr;
		memset(&attr, 0, sizeof(attr));
		attr.prog_type = BPF_PROG_TYPE_SCHED_CLS;
		attr.insns = (uint64_t)(uintptr_t)p->insn;
		attr.insn_cnt = p->n;
		/* The helpers used (skb_vlan_push/pop) are not GPL-only. */
		attr.license = (uint64_t)(uintptr_t) "Apache-2.0";
		snprintf(attr.prog_name, sizeof(attr.prog_name), "%s", name);
		if (attempt == 1) {
			vlog = xcalloc(1, vlog_size);
			attr.log_buf = (uint64_t)(uintptr_t)vlog;
			attr.log_size = (uint32_t)vlog_size;
			attr.log_level = 1;
		}
		int fd = (int)syscall(__NR_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
		if (fd >= 0)
			return fd;
		int e = errno;
		if (e != EACCES && e != EINVAL)
			return vr_error_set_errno(err, e, "cannot load BPF program %s", name);
		if (attempt == 1) {
			size_t len = strlen(vlog);
			while (len && vlog[len - 1] == '\n')
				vlog[--len] = '\0';
			const char *last = strrchr(vlog, '\n');
			return vr_error_set(err, e, "the kernel refuses BPF program %s: %s", name,
					    last ? last + 1 : vlog);
		}
	}
	return -EINVAL;
}

static const char *hook_name(uint32_t hook)
{
	return hook == NET_TC_INGRESS ? "ingress" : "egress";
}

/* Loads the program for one hook and puts it at NET_TC_PRIO_VLAN (in place). */
static int attach_hook(struct net_nl *nl, int ifindex, const char *ifname, uint32_t hook,
		       unsigned vid, struct vr_error **err)
{
	struct prog p;
	if (hook == NET_TC_INGRESS)
		build_ingress(&p, vid);
	else
		build_egress(&p, vid);
	_cleanup_close_ int fd =
		prog_load(&p, hook == NET_TC_INGRESS ? "vireo_vlan_in" : "vireo_vlan_out", err);
	if (fd < 0)
		return fd;
	char fname[32];
	snprintf(fname, sizeof(fname), "vireo-vlan:%u:%s", vid,
		 hook == NET_TC_INGRESS ? "in" : "out");
	struct tcmsg *tcm;
	/* Without NLM_F_EXCL an existing filter 1 at this priority is replaced. */
	struct nlmsghdr *nlh =
		net_nl_msg(nl, RTM_NEWTFILTER, NLM_F_CREATE, sizeof(*tcm), (void **)&tcm);
	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = ifindex;
	tcm->tcm_parent = hook;
	tcm->tcm_handle = 1;
	tcm->tcm_info = TC_H_MAKE((uint32_t)NET_TC_PRIO_VLAN << 16, htons(ETH_P_ALL));
	mnl_attr_put_strz(nlh, TCA_KIND, "bpf");
	struct nlattr *opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
	mnl_attr_put_u32(nlh, TCA_BPF_FD, (uint32_t)fd);
	mnl_attr_put_strz(nlh, TCA_BPF_NAME, fname);
	mnl_attr_put_u32(nlh, TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT);
	mnl_attr_nest_end(nlh, opts);
	_cleanup_error_ struct vr_error *e = NULL;
	int r = net_nl_talk(nl, nlh, NULL, NULL, &e);
	if (r < 0)
		return vr_error_set(err, -r, "cannot attach the %s VLAN program to \"%s\": %s",
				    hook_name(hook), ifname, vr_error_msg(e));
	return 0;
}

static int detach(struct net_nl *nl, int ifindex, const char *ifname, struct vr_error **err)
{
	int r = net_tc_filter_delete(nl, ifindex, ifname, NET_TC_INGRESS, NET_TC_PRIO_VLAN, err);
	if (r == 0)
		r = net_tc_filter_delete(nl, ifindex, ifname, NET_TC_EGRESS, NET_TC_PRIO_VLAN,
					 err);
	if (r == 0)
		r = net_tc_clsact_remove_if_empty(nl, ifindex, ifname, err);
	return r;
}

int net_vlan_attach(struct net_nl *nl, const char *ifname, unsigned vid, struct vr_error **err)
{
	if (vid > NET_VLAN_TRUNK)
		return vr_error_set(err, EINVAL,
				    "cannot put \"%s\" on VLAN %u: a VLAN ID is 0 (none), 1..4094 "
				    "or 4095 (guest tagging)",
				    ifname, vid);
	int ifindex = net_nl_ifindex(nl, ifname, err);
	if (ifindex < 0)
		return vr_error_wrap(err, "cannot put \"%s\" on VLAN %u", ifname, vid);
	if (vid == NET_VLAN_TRUNK)
		return detach(nl, ifindex, ifname, err);
	int r = net_tc_clsact_ensure(nl, ifindex, ifname, err);
	/* Egress first: a port never tags frames into a VLAN it cannot hear from. */
	if (r == 0)
		r = attach_hook(nl, ifindex, ifname, NET_TC_EGRESS, vid, err);
	if (r == 0)
		r = attach_hook(nl, ifindex, ifname, NET_TC_INGRESS, vid, err);
	return r;
}

int net_vlan_detach(struct net_nl *nl, const char *ifname, struct vr_error **err)
{
	int ifindex = net_nl_ifindex(nl, ifname, err);
	if (ifindex < 0)
		return vr_error_wrap(err, "cannot remove the VLAN programs of \"%s\"", ifname);
	return detach(nl, ifindex, ifname, err);
}

struct vlan_search {
	const char *suffix;
	int vid; /* -1: none found */
};

static int vlan_filter(const struct net_tc_filter *f, void *opaque, struct vr_error **err)
{
	struct vlan_search *vs = opaque;
	if (f->prio != NET_TC_PRIO_VLAN || strcmp(f->kind, "bpf") != 0 || !f->options)
		return 0;
	const struct nlattr *tb[TCA_BPF_MAX + 1];
	net_attr_parse_nested(f->options, tb, TCA_BPF_MAX);
	if (!tb[TCA_BPF_NAME] || mnl_attr_validate(tb[TCA_BPF_NAME], MNL_TYPE_NUL_STRING) < 0)
		return 0;
	unsigned vid;
	char suffix[8];
	if (sscanf(mnl_attr_get_str(tb[TCA_BPF_NAME]), "vireo-vlan:%u:%7s", &vid, suffix) == 2 &&
	    !strcmp(suffix, vs->suffix) && vid < NET_VLAN_TRUNK)
		vs->vid = (int)vid;
	return 0;
}

int net_vlan_get(struct net_nl *nl, const char *ifname, unsigned *vid, struct vr_error **err)
{
	int ifindex = net_nl_ifindex(nl, ifname, err);
	if (ifindex < 0)
		return vr_error_wrap(err, "cannot read the VLAN of \"%s\"", ifname);
	struct vlan_search in = { .suffix = "in", .vid = -1 };
	struct vlan_search out = { .suffix = "out", .vid = -1 };
	int r = net_tc_filter_list(nl, ifindex, ifname, NET_TC_INGRESS, vlan_filter, &in, err);
	if (r == 0)
		r = net_tc_filter_list(nl, ifindex, ifname, NET_TC_EGRESS, vlan_filter, &out, err);
	if (r < 0)
		return r;
	if (in.vid != out.vid)
		return vr_error_set(err, EIO,
				    "the VLAN programs of \"%s\" disagree: ingress %d, egress %d",
				    ifname, in.vid, out.vid);
	*vid = in.vid < 0 ? NET_VLAN_TRUNK : (unsigned)in.vid;
	return 0;
}
