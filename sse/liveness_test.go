package sse

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A client that closes its connection ends its stream and frees its slot
// at once, in both modes, even when nothing is written to it: with no
// heartbeat (or an hourly one) nothing but the read of the connection can
// notice within the minute waitStreams waits. Real loopback TCP, since
// that behaviour is the kernel's.
func TestHandlerEndsStreamOfClosedConnection(t *testing.T) { modes(t, endsStreamOfClosedConnection) }

func endsStreamOfClosedConnection(t *testing.T, disableHijack bool) {
	for _, tc := range []struct {
		name      string
		heartbeat time.Duration
		tls       bool
	}{
		{name: "no heartbeat", heartbeat: -1},
		{name: "hourly heartbeat", heartbeat: time.Hour},
		{name: "default heartbeat"},
		{name: "TLS/no heartbeat", heartbeat: -1, tls: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := &bus.Memory{}
			defer b.Close()
			h := &Handler{Broker: b, Heartbeat: tc.heartbeat, MaxStreams: 2, DisableHijack: disableHijack}
			srv := httptest.NewUnstartedServer(h)
			if tc.tls {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			defer func() { assert.NoError(t, h.Shutdown(context.Background())) }()
			open := func() (net.Conn, *bufio.Reader) {
				t.Helper()
				var c net.Conn
				var err error
				if tc.tls {
					cfg := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
					cfg.NextProtos = []string{"http/1.1"}
					c, err = tls.Dial("tcp", srv.Listener.Addr().String(), cfg)
				} else {
					c, err = net.Dial("tcp", srv.Listener.Addr().String())
				}
				require.NoError(t, err)
				require.NoError(t, c.SetDeadline(time.Now().Add(time.Minute))) // no hang
				_, err = c.Write([]byte("GET /?topic=t HTTP/1.1\r\nHost: test\r\n\r\n"))
				require.NoError(t, err)
				r := bufio.NewReader(c)
				readUntil(t, r, "id: ")
				readUntil(t, r, "\n\n")
				return c, r
			}

			kept, kr := open() // opened first, so checked first
			defer kept.Close()
			left, _ := open()
			require.Equal(t, 2, h.Streams())
			require.NoError(t, left.Close())
			waitStreams(h, 1)
			require.Equal(t, 1, h.Streams(), "the closed connection's stream ended")

			// The stream whose client stayed is still served, and the
			// freed slot takes a new stream under MaxStreams.
			publish(t, b, "t", bus.Message{Data: []byte("still here")})
			readUntil(t, kr, "data: still here\n\n")
			again, _ := open()
			defer again.Close()
			assert.Equal(t, 2, h.Streams())

			require.NoError(t, kept.Close())
			require.NoError(t, again.Close())
			waitStreams(h, 0)
			assert.Zero(t, h.Streams())
		})
	}
}

// waitStreams waits until h has n streams open, or a minute at most.
func waitStreams(h *Handler, n int) {
	for end := time.Now().Add(time.Minute); h.Streams() != n && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
}
