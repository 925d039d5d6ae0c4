package sse

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/testnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readUntil reads r until it has seen want, and returns what it read.
func readUntil(t *testing.T, r *bufio.Reader, want string) string {
	t.Helper()
	var sb strings.Builder
	for !strings.Contains(sb.String(), want) {
		b, err := r.ReadByte()
		require.NoError(t, err, "read so far: %q", sb.String())
		sb.WriteByte(b)
	}
	return sb.String()
}

// modes runs f with the stream on a hijacked connection and on the
// ResponseWriter.
func modes(t *testing.T, f func(t *testing.T, disableHijack bool)) {
	for _, d := range []bool{false, true} {
		t.Run(fmt.Sprintf("DisableHijack=%v", d), func(t *testing.T) { f(t, d) })
	}
}

// A stream outlives the server's ReadTimeout and WriteTimeout, also with
// no write deadline of its own (a negative WriteTimeout).
func TestHandlerOutlivesServerTimeouts(t *testing.T) {
	for _, wt := range []time.Duration{0, -1} {
		t.Run(fmt.Sprintf("WriteTimeout=%v", wt), func(t *testing.T) {
			modes(t, func(t *testing.T, disableHijack bool) {
				synctest.Test(t, func(t *testing.T) { outlivesServerTimeouts(t, wt, disableHijack) })
			})
		})
	}
}

func outlivesServerTimeouts(t *testing.T, writeTimeout time.Duration, disableHijack bool) {
	{
		b := &bus.Memory{}
		defer b.Close()
		h := &Handler{Broker: b, Heartbeat: 500 * time.Millisecond, WriteTimeout: writeTimeout, DisableHijack: disableHijack}
		mux := http.NewServeMux()
		mux.Handle("GET /events/{topic}", h)
		hc := testnet.Serve(t, &http.Server{Handler: mux, WriteTimeout: time.Second, ReadTimeout: time.Second})

		resp, err := hc.Get("http://pipe/events/ticks")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		r := bufio.NewReader(resp.Body)
		readUntil(t, r, "id: ")

		start := time.Now()
		beats := 0
		for time.Since(start) < 3*time.Second {
			readUntil(t, r, ":\n")
			beats++
		}
		assert.GreaterOrEqual(t, beats, 5, "heartbeats every 500ms for 3s")
		publish(t, b, "ticks", bus.Message{Data: []byte("still here")})
		readUntil(t, r, "data: still here\n\n")
		require.NoError(t, h.Shutdown(context.Background()))
	}
}

func TestHandlerHeartbeatDefault(t *testing.T) { modes(t, heartbeatDefault) }

func heartbeatDefault(t *testing.T, disableHijack bool) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		hc := testnet.Serve(t, &http.Server{Handler: &Handler{Broker: b, DisableHijack: disableHijack}})
		resp, err := hc.Get("http://pipe/?topic=t")
		require.NoError(t, err)
		defer resp.Body.Close()
		r := bufio.NewReader(resp.Body)
		readUntil(t, r, "\n\nid: ")
		readUntil(t, r, "\n\n")
		start := time.Now()
		readUntil(t, r, ":\n")
		assert.Equal(t, DefaultHeartbeat, time.Since(start))

		// A message postpones the next heartbeat.
		time.Sleep(10 * time.Second)
		publish(t, b, "t", bus.Message{Data: []byte("x")})
		readUntil(t, r, "data: x\n\n")
		readUntil(t, r, ":\n")
		assert.Equal(t, 2*DefaultHeartbeat+10*time.Second, time.Since(start))
	})
}

func TestHandlerShutdownEndsStreams(t *testing.T) {
	modes(t, func(t *testing.T, disableHijack bool) {
		synctest.Test(t, func(t *testing.T) { shutdownEndsStreams(t, disableHijack) })
	})
}

func shutdownEndsStreams(t *testing.T, disableHijack bool) {
	{
		b := &bus.Memory{}
		defer b.Close()
		h := &Handler{Broker: b, DisableHijack: disableHijack}
		srv := &http.Server{Handler: h}
		srv.RegisterOnShutdown(func() { _ = h.Shutdown(context.Background()) })
		hc := testnet.Serve(t, srv)
		// net.Pipe does not buffer: read the streams while they end.
		ended := make(chan error, 3)
		for range 3 {
			resp, err := hc.Get("http://pipe/?topic=t")
			require.NoError(t, err)
			go func() {
				defer resp.Body.Close()
				_, err := io.ReadAll(resp.Body)
				ended <- err
			}()
		}
		synctest.Wait()
		require.Equal(t, 3, h.Streams())

		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, srv.Shutdown(ctx))
		require.NoError(t, h.Shutdown(ctx))
		assert.Less(t, time.Since(start), time.Second, "Shutdown does not wait for a timeout")
		assert.Zero(t, h.Streams())
		for range 3 {
			assert.NoError(t, <-ended, "streams end cleanly")
		}
	}
}

func TestHandlerMaxLifetime(t *testing.T) { modes(t, maxLifetime) }

func maxLifetime(t *testing.T, disableHijack bool) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		h := &Handler{Broker: b, MaxLifetime: 10 * time.Minute, DisableHijack: disableHijack}
		hc := testnet.Serve(t, &http.Server{Handler: h})
		resp, err := hc.Get("http://pipe/?topic=t")
		require.NoError(t, err)
		defer resp.Body.Close()
		start := time.Now()
		_, err = io.ReadAll(resp.Body)
		require.NoError(t, err)
		life := time.Since(start)
		assert.GreaterOrEqual(t, life, 8*time.Minute)
		assert.LessOrEqual(t, life, 10*time.Minute)
	})
}

// A client that leaves is noticed in both modes, with or without
// heartbeats, and its stream ends at once: with no time passing in the
// bubble, so neither a heartbeat nor any other timer can be what noticed.
func TestHandlerNoticesDepartedClient(t *testing.T) {
	for _, hb := range []time.Duration{time.Second, -1} {
		t.Run(fmt.Sprintf("Heartbeat=%v", hb), func(t *testing.T) {
			modes(t, func(t *testing.T, disableHijack bool) {
				synctest.Test(t, func(t *testing.T) { noticesDepartedClient(t, hb, disableHijack) })
			})
		})
	}
}

func noticesDepartedClient(t *testing.T, heartbeat time.Duration, disableHijack bool) {
	b := &bus.Memory{}
	defer b.Close()
	h := &Handler{Broker: b, Heartbeat: heartbeat, DisableHijack: disableHijack}
	hc := testnet.Serve(t, &http.Server{Handler: h})
	resp, err := hc.Get("http://pipe/?topic=t")
	require.NoError(t, err)
	readUntil(t, bufio.NewReader(resp.Body), "id: ")
	synctest.Wait()
	require.Equal(t, 1, h.Streams())
	resp.Body.Close()
	hc.Transport.(*http.Transport).CloseIdleConnections()
	synctest.Wait()
	assert.Zero(t, h.Streams())
}

// Streams closed by MaxLifetime are resumed by the Client with nothing lost.
func TestMaxLifetimeResume(t *testing.T) { modes(t, maxLifetimeResume) }

func maxLifetimeResume(t *testing.T, disableHijack bool) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		h := &Handler{Broker: b, MaxLifetime: time.Minute, Retry: 100 * time.Millisecond, DisableHijack: disableHijack}
		var streams atomic.Int64
		hc := testnet.Serve(t, &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			streams.Add(1)
			h.ServeHTTP(w, r)
		})})
		defer h.Shutdown(context.Background())
		sub, err := (&Client{URL: "http://pipe/?topic={topic}", HTTPClient: hc}).Subscribe(context.Background(), "t", "")
		require.NoError(t, err)
		defer sub.Close()
		received := make(chan []string, 1)
		go func() {
			var got []string
			for m := range sub.C() {
				got = append(got, string(m.Data))
				if len(got) == 600 {
					break
				}
			}
			received <- got
		}()
		var want []string
		for i := range 600 { // one a second for ten minutes: about ten streams
			time.Sleep(time.Second)
			publish(t, b, "t", bus.Message{Data: fmt.Appendf(nil, "%d", i)})
			want = append(want, fmt.Sprint(i))
		}
		assert.Equal(t, want, <-received)
		assert.GreaterOrEqual(t, streams.Load(), int64(10), "streams ended by MaxLifetime")
	})
}
