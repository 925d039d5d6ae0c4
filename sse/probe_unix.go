//go:build unix

package sse

import "syscall"

// readNow reads what is waiting on the socket under rc without waiting
// for more. It reports gone at the end of the connection (the client
// closed it) or on an error such as a reset. ok is always true here.
func readNow(rc syscall.RawConn) (gone, ok bool) {
	var (
		buf [64]byte
		n   int
		err error
	)
	rerr := rc.Read(func(fd uintptr) bool {
		// A few reads at most: a client that keeps sending is not ours
		// to drain, and its end is then noticed by a failed write.
		for range 4 {
			n, err = syscall.Read(int(fd), buf[:])
			if n <= 0 || err != nil {
				break
			}
		}
		return true // never wait for the socket
	})
	switch {
	case rerr != nil: // closed by Shutdown, or a read deadline
		return !isTimeout(rerr), true
	case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK || err == syscall.EINTR:
		return false, true // nothing waiting: alive
	case err != nil:
		return true, true
	}
	return n == 0, true // 0 is the end of the connection
}
