//go:build !(linux && amd64)

package balancer

import "syscall"

// zenpatch is built and shipped for linux/amd64. Elsewhere the old calls
// differ by architecture (32-bit fields and ugetrlimit on i386, none in
// loong64's table), and every kernel Go 1.24+ supports there (3.2 and
// later) has prlimit64, so no fallback is needed.

func oldGetNofile(*syscall.Rlimit) error { return syscall.ENOSYS }

func oldSetNofile(*syscall.Rlimit) error { return syscall.ENOSYS }
