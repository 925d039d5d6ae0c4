//go:build !unix

package sse

import "syscall"

// readNow is not available here: ok is false and alive falls back to a
// read with a short deadline.
func readNow(syscall.RawConn) (gone, ok bool) { return false, false }
