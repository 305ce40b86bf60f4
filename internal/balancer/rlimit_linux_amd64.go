package balancer

import (
	"syscall"
	"unsafe"
)

// On x86_64, getrlimit (97) and setrlimit (160) take the same struct as
// prlimit64: two 64-bit words, RLIM_INFINITY = all ones.

func oldGetNofile(l *syscall.Rlimit) error {
	if _, _, e := syscall.RawSyscall(syscall.SYS_GETRLIMIT, syscall.RLIMIT_NOFILE, uintptr(unsafe.Pointer(l)), 0); e != 0 {
		return e
	}
	return nil
}

func oldSetNofile(l *syscall.Rlimit) error {
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRLIMIT, syscall.RLIMIT_NOFILE, uintptr(unsafe.Pointer(l)), 0); e != 0 {
		return e
	}
	return nil
}
