//go:build !linux

package sse

import (
	"errors"
	"net"
	"syscall"
)

// A poller is Linux's; elsewhere every stream has a goroutine reading its
// connection.
type poller struct{ refs int }

func newPoller() (*poller, error) { return nil, errors.ErrUnsupported }

func connRaw(net.Conn) (syscall.RawConn, bool)         { return nil, false }
func (p *poller) add(*connWatch, syscall.RawConn) bool { return false }
func (p *poller) remove(*connWatch)                    {}
func (p *poller) run()                                 {}
func (p *poller) close()                               {}
