// <netinet/in.h> must come before the kernel's netfilter headers, or Swift sees two
// different definitions of in_addr.
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/common.h>
#include <libnftnl/udata.h>
