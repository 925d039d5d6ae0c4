package sse

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Streams that come and go in waves, over real TCP, each noticed when its
// client leaves: what watches the connections stops with the last stream
// of a wave and starts again with the first of the next, also when the
// two overlap, and no goroutine is left behind (TestMain checks).
func TestHandlerWatchesStreamsInWaves(t *testing.T) {
	b := &bus.Memory{}
	defer b.Close()
	h := &Handler{Broker: b, Heartbeat: -1}
	srv := serve(t, h)
	defer func() { assert.NoError(t, h.Shutdown(context.Background())) }()
	open := func() (net.Conn, error) {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			return nil, err
		}
		_ = c.SetDeadline(time.Now().Add(time.Minute))
		if _, err := fmt.Fprintf(c, "GET /events/w HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
			c.Close()
			return nil, err
		}
		r := bufio.NewReader(c)
		for blank := 0; blank < 3; { // the head, the prelude and the top's id
			line, err := r.ReadString('\n')
			if err != nil {
				c.Close()
				return nil, err
			}
			if line == "\n" || line == "\r\n" {
				blank++
			}
		}
		return c, nil
	}
	for wave := range 10 {
		const n = 8
		conns := make([]net.Conn, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range conns {
			wg.Go(func() { conns[i], errs[i] = open() })
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "wave %d, stream %d", wave, i)
		}
		require.GreaterOrEqual(t, h.Streams(), n, "the previous wave may still be ending")
		for _, c := range conns {
			require.NoError(t, c.Close())
		}
		if wave%2 == 1 {
			continue // the next wave opens while this one is ending
		}
		waitStreams(h, 0)
		require.Equal(t, 0, h.Streams(), "wave %d: every closed connection's stream ended", wave)
	}
	waitStreams(h, 0)
	assert.Equal(t, 0, h.Streams())
}
