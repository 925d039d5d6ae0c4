//go:build linux

package sse

import (
	"errors"
	"net"
	"sync"
	"syscall"
)

// A poller watches the hijacked connections of a Handler's streams for
// the client closing them, all at once: one goroutine waits in
// epoll_wait for their hang-up events (not for data: a client sends
// nothing after its request). A goroutine per stream blocked in a read
// would cost each idle stream 4 KiB of stack or more. The poller runs
// while the Handler has streams and ends with the last.
type poller struct {
	epfd int
	wake [2]int // a pipe: writing to it ends run
	done chan struct{}
	refs int // guarded by Handler.pollMu

	mu    sync.Mutex
	next  uint64 // the last key given out; 0 is the wake pipe's
	conns map[uint64]*connWatch
}

func newPoller() (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &poller{epfd: epfd, done: make(chan struct{}), conns: make(map[uint64]*connWatch)}
	if err := syscall.Pipe2(p.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN} // key 0
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		p.closeFDs()
		return nil, err
	}
	return p, nil
}

func (p *poller) closeFDs() {
	syscall.Close(p.epfd)
	syscall.Close(p.wake[0])
	syscall.Close(p.wake[1])
}

// connRaw returns access to the file descriptor of a hijacked
// connection: of the TCP connection under TLS, or under a wrapper that,
// like tls.Conn, returns it from a NetConn method.
func connRaw(conn net.Conn) (syscall.RawConn, bool) {
	for range 8 { // bounds a chain of wrappers that loops
		u, ok := conn.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		conn = u.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, false
	}
	raw, err := sc.SyscallConn()
	return raw, err == nil
}

// hangUp are the events of a connection whose client closed it or reset
// it; one-shot, so a closed connection is reported once.
const hangUp = syscall.EPOLLRDHUP | syscall.EPOLLHUP | syscall.EPOLLERR | syscall.EPOLLONESHOT

// add starts watching w's connection. Keys are never reused, so an event
// that arrives after w was removed cannot reach the watch of a connection
// that got the same file descriptor later.
func (p *poller) add(w *connWatch, raw syscall.RawConn) bool {
	p.mu.Lock()
	p.next++
	id := p.next
	p.conns[id] = w
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: hangUp, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	var err error
	if cerr := raw.Control(func(fd uintptr) {
		err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	}); cerr != nil || err != nil {
		p.mu.Lock()
		delete(p.conns, id)
		p.mu.Unlock()
		return false
	}
	w.p, w.id, w.raw = p, id, raw
	return true
}

// remove stops watching w's connection. Control holds the file
// descriptor while it runs, so it cannot be closed and reused meanwhile;
// once the connection is closed (by a wrapper, or Shutdown) Control
// fails, and the kernel dropped the descriptor from the set already.
func (p *poller) remove(w *connWatch) {
	_ = w.raw.Control(func(fd uintptr) {
		_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
	})
	p.mu.Lock()
	delete(p.conns, w.id)
	p.mu.Unlock()
}

// run reports each connection whose client hung up,
// until close wakes it.
func (p *poller) run() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 64)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if id == 0 {
				return // close
			}
			p.mu.Lock()
			if w := p.conns[id]; w != nil {
				delete(p.conns, id)
				w.hungUp()
			}
			p.mu.Unlock()
		}
	}
}

// close ends run, waits for it and releases the poller's descriptors.
func (p *poller) close() {
	_, _ = syscall.Write(p.wake[1], []byte{1})
	<-p.done
	p.closeFDs()
}
