package testnet

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A handler's wait runs on the bubble's fake clock: the answer comes after
// exactly the time it waited.
func TestServeInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hc := Serve(t, &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(time.Hour)
			fmt.Fprintf(w, "%s %s", r.RemoteAddr, r.URL.Path)
		})})
		start := time.Now()
		resp, err := hc.Get("http://any.test/x")
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		assert.Equal(t, "pipe /x", string(body))
		assert.Equal(t, time.Hour, time.Since(start))
	})
}

// A handler can hijack its connection and switch protocols, as WebSocket
// upgrades do.
func TestServeHijack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hc := Serve(t, &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			defer conn.Close()
			fmt.Fprint(buf, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
			_ = buf.Flush()
			line, _ := buf.ReadString('\n')
			fmt.Fprint(buf, "echo "+line)
			_ = buf.Flush()
		})})
		req, err := http.NewRequest(http.MethodGet, "http://any.test/", nil)
		require.NoError(t, err)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "echo")
		resp, err := hc.Do(req)
		require.NoError(t, err)
		require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
		rw, ok := resp.Body.(io.ReadWriteCloser)
		require.True(t, ok, "the body of a 101 is the connection")
		defer rw.Close()
		_, err = io.WriteString(rw, "hello\n")
		require.NoError(t, err)
		line, err := bufio.NewReader(rw).ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, "echo hello\n", line)
	})
}

func TestPipeClose(t *testing.T) {
	t.Parallel()
	p := NewPipe()
	assert.Equal(t, "pipe", p.Addr().String())
	assert.Equal(t, "pipe", p.Addr().Network())

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := p.DialContext(ctx, "tcp", "x:1")
	require.ErrorIs(t, err, context.Canceled, "nobody accepts and ctx is done")

	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "twice")
	_, err = p.Accept()
	require.ErrorIs(t, err, net.ErrClosed)
	_, err = p.DialContext(context.Background(), "tcp", "x:1")
	require.ErrorIs(t, err, net.ErrClosed)
}

// pair dials l (a listener over p) and returns both ends.
func pair(t *testing.T, p *Pipe, l net.Listener) (client, server net.Conn) {
	t.Helper()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			c = nil
		}
		accepted <- c
	}()
	client, err := p.DialContext(context.Background(), "pipe", "")
	require.NoError(t, err)
	server = <-accepted
	require.NotNil(t, server)
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server
}

// readAll reads c to its end on another goroutine.
func readAll(c net.Conn) <-chan string {
	out := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(c)
		out <- string(b)
	}()
	return out
}
