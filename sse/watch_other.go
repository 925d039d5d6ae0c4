//go:build !linux

package sse

import (
	"errors"
	"net"
)

// A poller is Linux's; elsewhere every stream has a goroutine reading its
// connection.
type poller struct{ refs int }

func newPoller() (*poller, error) { return nil, errors.ErrUnsupported }

func connFD(net.Conn) (int, bool)          { return 0, false }
func (p *poller) add(*connWatch, int) bool { return false }
func (p *poller) remove(*connWatch)        {}
func (p *poller) run()                     {}
func (p *poller) close()                   {}
