package main

// The facts the model rests on: which x86_64 system calls, madvise advice
// values and socket protocols each upstream release added. Numbers are those
// of arch/x86/entry/syscalls/syscall_64.tbl (arch/x86/syscalls/ before 4.2,
// unistd_64.h before 3.3); filter_test.go checks every number and name
// against golang.org/x/sys/unix and go-seccomp-bpf's table.
//
// Linux 2.6.32 ends at perf_event_open (298): every x86_64 number below 299
// was wired up by then, so the table only needs what came after. Numbers
// 337–423 were skipped when the tables of all architectures were aligned
// (5.1), and 512–547 are the x32 ABI, which the filter refuses whole (x32
// came with 3.4 and most distributions leave it off).
//
// Upstream releases only: RHEL 6's 2.6.32-xxx kernels backported a few
// calls and flags over their life (transparent huge pages among them), so
// the model errs on the strict side.

// syscallAdded is one x86_64 system call and the first release that had it.
type syscallAdded struct {
	nr      uint32
	name    string
	release string
}

// addedAfter2632 lists, in number order, every x86_64 system call added
// after Linux 2.6.32.
var addedAfter2632 = []syscallAdded{
	{299, "recvmmsg", "2.6.33"},
	{300, "fanotify_init", "2.6.36"}, // wired up in 2.6.36, usable from 2.6.37
	{301, "fanotify_mark", "2.6.36"},
	{302, "prlimit64", "2.6.36"}, // Go's only way to get and set rlimits since 1.21
	{303, "name_to_handle_at", "2.6.39"},
	{304, "open_by_handle_at", "2.6.39"},
	{305, "clock_adjtime", "2.6.39"},
	{306, "syncfs", "2.6.39"},
	{307, "sendmmsg", "3.0"},
	{308, "setns", "3.0"},
	{309, "getcpu", "3.1"}, // before 3.1 only in the vsyscall page and the vDSO, which a filter cannot see
	{310, "process_vm_readv", "3.2"},
	{311, "process_vm_writev", "3.2"},
	{312, "kcmp", "3.5"},
	{313, "finit_module", "3.8"},
	{314, "sched_setattr", "3.14"},
	{315, "sched_getattr", "3.14"},
	{316, "renameat2", "3.15"},
	{317, "seccomp", "3.17"}, // the harness itself uses it before the filter is in place
	{318, "getrandom", "3.17"},
	{319, "memfd_create", "3.17"},
	{320, "kexec_file_load", "3.17"},
	{321, "bpf", "3.18"},
	{322, "execveat", "3.19"},
	{323, "userfaultfd", "4.3"},
	{324, "membarrier", "4.3"},
	{325, "mlock2", "4.4"},
	{326, "copy_file_range", "4.5"},
	{327, "preadv2", "4.6"},
	{328, "pwritev2", "4.6"},
	{329, "pkey_mprotect", "4.9"},
	{330, "pkey_alloc", "4.9"},
	{331, "pkey_free", "4.9"},
	{332, "statx", "4.11"},
	{333, "io_pgetevents", "4.18"},
	{334, "rseq", "4.18"},
	{335, "uretprobe", "6.11"},
	{336, "uprobe", "6.18"},
	{424, "pidfd_send_signal", "5.1"},
	{425, "io_uring_setup", "5.1"},
	{426, "io_uring_enter", "5.1"},
	{427, "io_uring_register", "5.1"},
	{428, "open_tree", "5.2"},
	{429, "move_mount", "5.2"},
	{430, "fsopen", "5.2"},
	{431, "fsconfig", "5.2"},
	{432, "fsmount", "5.2"},
	{433, "fspick", "5.2"},
	{434, "pidfd_open", "5.3"},
	{435, "clone3", "5.3"},
	{436, "close_range", "5.9"},
	{437, "openat2", "5.6"}, // numbered before close_range, merged a release earlier
	{438, "pidfd_getfd", "5.6"},
	{439, "faccessat2", "5.8"},
	{440, "process_madvise", "5.10"},
	{441, "epoll_pwait2", "5.11"},
	{442, "mount_setattr", "5.12"},
	{443, "quotactl_fd", "5.14"}, // first merged in 5.13 as quotactl_path, withdrawn, re-added
	{444, "landlock_create_ruleset", "5.13"},
	{445, "landlock_add_rule", "5.13"},
	{446, "landlock_restrict_self", "5.13"},
	{447, "memfd_secret", "5.14"},
	{448, "process_mrelease", "5.15"},
	{449, "futex_waitv", "5.16"},
	{450, "set_mempolicy_home_node", "5.17"},
	{451, "cachestat", "6.5"},
	{452, "fchmodat2", "6.6"},
	{453, "map_shadow_stack", "6.6"},
	{454, "futex_wake", "6.7"},
	{455, "futex_wait", "6.7"},
	{456, "futex_requeue", "6.7"},
	{457, "statmount", "6.8"},
	{458, "listmount", "6.8"},
	{459, "lsm_get_self_attr", "6.8"},
	{460, "lsm_set_self_attr", "6.8"},
	{461, "lsm_list_modules", "6.8"},
	{462, "mseal", "6.10"},
	{463, "setxattrat", "6.13"},
	{464, "getxattrat", "6.13"},
	{465, "listxattrat", "6.13"},
	{466, "removexattrat", "6.13"},
	{467, "open_tree_attr", "6.15"},
	{468, "file_getattr", "6.17"},
	{469, "file_setattr", "6.17"},
	{470, "listns", "6.19"},
	{471, "rseq_slice_yield", "7.0"},
}

// Argument-level differences: an old kernel has the call but refuses some
// of its arguments, and the caller is expected to fall back.
const (
	nrMadvise = 28
	nrSocket  = 41

	afInet       = 2
	afInet6      = 10
	ipprotoMPTCP = 262
)

// madviseAdded lists madvise(2) advice values added after 2.6.32; older
// kernels answer them with EINVAL. Go's runtime asks for MADV_HUGEPAGE,
// MADV_NOHUGEPAGE and MADV_COLLAPSE on some paths and ignores the error.
var madviseAdded = []struct {
	advice  uint64
	name    string
	release string
}{
	{8, "MADV_FREE", "4.5"},
	{14, "MADV_HUGEPAGE", "2.6.38"}, // RHEL 6 backported transparent huge pages: its 2.6.32 takes 14 and 15
	{15, "MADV_NOHUGEPAGE", "2.6.38"},
	{16, "MADV_DONTDUMP", "3.4"},
	{17, "MADV_DODUMP", "3.4"},
	{18, "MADV_WIPEONFORK", "4.14"},
	{19, "MADV_KEEPONFORK", "4.14"},
	{20, "MADV_COLD", "5.4"},
	{21, "MADV_PAGEOUT", "5.4"},
	{22, "MADV_POPULATE_READ", "5.14"},
	{23, "MADV_POPULATE_WRITE", "5.14"},
	{24, "MADV_DONTNEED_LOCKED", "5.18"},
	{25, "MADV_COLLAPSE", "6.1"},
	{101, "MADV_SOFT_OFFLINE", "2.6.33"},
	{102, "MADV_GUARD_INSTALL", "6.13"},
	{103, "MADV_GUARD_REMOVE", "6.13"},
}

// MPTCP: Go 1.24 and later first try socket(AF_INET[6], SOCK_STREAM,
// IPPROTO_MPTCP) for listeners and fall back to TCP when the kernel refuses.
// Kernels before 4.4 answer EPROTONOSUPPORT (no stream protocol 262);
// 4.4 added a protocol range check (IPPROTO_MAX, then 256) that answers
// EINVAL; 5.6 raised IPPROTO_MAX and added MPTCP.
const (
	protoRangeCheck = "4.4"
	mptcpAdded      = "5.6"
)

// oldestModel is the oldest kernel the table can model: calls added between
// older kernels and 2.6.32 are not listed, and no Go release runs there.
const oldestModel = "2.6.32"
