package sse

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/metricstest"
	"github.com/pushpull/pushpull/testnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A slowConn is the client end of a connection whose reader takes at most
// chunk bytes every pause: a client that reads slowly but steadily.
type slowConn struct {
	net.Conn
	chunk int
	pause time.Duration
}

func (c *slowConn) Read(p []byte) (int, error) {
	time.Sleep(c.pause)
	return c.Conn.Read(p[:min(len(p), c.chunk)])
}

// serveSlow serves h on an in-memory network and returns a client whose
// connections read like slowConn (chunk 0: at full speed).
func serveSlow(t *testing.T, h http.Handler, chunk int, pause time.Duration) *http.Client {
	hc := testnet.Serve(t, &http.Server{Handler: h})
	tr := hc.Transport.(*http.Transport)
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil || chunk == 0 {
			return c, err
		}
		return &slowConn{Conn: c, chunk: chunk, pause: pause}, nil
	}
	return hc
}

// readEvent reads up to the blank line that ends an event.
func readEvent(r *bufio.Reader) (string, error) {
	var sb strings.Builder
	for !strings.HasSuffix(sb.String(), "\n\n") {
		line, err := r.ReadString('\n')
		if err != nil {
			return sb.String(), err
		}
		sb.WriteString(line)
	}
	return sb.String(), nil
}

// openStream opens a stream at url and reads its prelude, up to the id of
// the topic's top. The response body is closed when the test ends.
func openStream(t *testing.T, hc *http.Client, url string) *bufio.Reader {
	t.Helper()
	resp, err := hc.Get(url)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)
	r := bufio.NewReader(resp.Body)
	readUntil(t, r, "\n\nid: ")
	readUntil(t, r, "\n\n")
	return r
}

// A client reading far more slowly than its topic is written, behind a
// subscription queue of two messages and a broker that cuts subscribers
// more than 8 messages behind after a second without progress, still gets
// every message in order on the same stream: the stream catches up from
// the history while the client keeps accepting bytes, and is never cut.
// Each write to it takes seconds; what counts is that bytes move.
func TestSlowSteadyReaderIsNotCut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &metricstest.Recorder{}
		b := &bus.Memory{Buffer: 2, MaxLag: 8, HistorySize: 1000, Metrics: rec}
		defer b.Close()
		h := &Handler{Broker: b, Heartbeat: -1, Metrics: rec}
		// 16 bytes every 100ms: about two events a second.
		hc := serveSlow(t, h, 16, 100*time.Millisecond)
		r := openStream(t, hc, "http://pipe/?topic=t")

		// Twenty messages a second for ten seconds: ten times what the
		// client reads.
		const n = 200
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		published := make(chan error, 1)
		go func() {
			for i := range n {
				if _, err := b.Publish(ctx, "t", bus.Message{Data: fmt.Appendf(nil, "%03d %s", i, strings.Repeat("x", 40))}); err != nil {
					published <- err
					return
				}
				select {
				case <-time.After(50 * time.Millisecond):
				case <-ctx.Done():
					published <- ctx.Err()
					return
				}
			}
			published <- nil
		}()
		for i := range n {
			got, err := readEvent(r)
			require.NoError(t, err, "message %d on the same stream", i)
			require.Contains(t, got, fmt.Sprintf("data: %03d ", i), "message %d in order", i)
		}
		require.NoError(t, <-published)
		assert.Equal(t, 0, rec.Count(metrics.BusUnsubscribed, metrics.Event{Outcome: metrics.ReasonSlow}), "never cut")
		assert.Equal(t, 0, rec.Count(metrics.ConnClosed, metrics.Event{}))
		assert.Positive(t, rec.Count(metrics.BusCatchUp, metrics.Event{}), "it did fall behind")
		require.NoError(t, h.Shutdown(context.Background()))
	})
}

// A client that stops reading is still cut, on a hijacked connection and
// on the ResponseWriter, although the stream waits for it in slices.
func TestStoppedReaderIsCut(t *testing.T) { modes(t, stoppedReaderIsCut) }

func stoppedReaderIsCut(t *testing.T, disableHijack bool) {
	synctest.Test(t, func(t *testing.T) {
		rec := &metricstest.Recorder{}
		b := &bus.Memory{Buffer: 2, MaxLag: 8, HistorySize: 1000}
		defer b.Close()
		h := &Handler{Broker: b, Heartbeat: -1, Metrics: rec, DisableHijack: disableHijack}
		hc := serveSlow(t, h, 0, 0)
		openStream(t, hc, "http://pipe/?topic=t")
		// The client reads no more; messages keep coming.
		big := strings.Repeat("x", 8<<10)
		for h.Streams() > 0 {
			publish(t, b, "t", bus.Message{Data: []byte(big)})
			time.Sleep(50 * time.Millisecond)
		}
		assert.Equal(t, 1, rec.Count(metrics.ConnClosed, metrics.Event{Outcome: metrics.ReasonSlow}))
	})
}

// Messages that queue up while a write is under way go out together: one
// write and one flush for all of them, not one per message.
func TestQueuedMessagesShareAWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &metricstest.Recorder{}
		b := &bus.Memory{Buffer: 64}
		defer b.Close()
		h := &Handler{Broker: b, Heartbeat: -1, Metrics: rec}
		hc := serveSlow(t, h, 16, 100*time.Millisecond)
		r := openStream(t, hc, "http://pipe/?topic=t")
		// Published at once, while the client takes 16 bytes per 100ms:
		// the stream's first write is still under way when the last is
		// queued.
		const n = 50
		for i := range n {
			publish(t, b, "t", bus.Message{Data: fmt.Appendf(nil, "%02d", i)})
		}
		for i := range n {
			got, err := readEvent(r)
			require.NoError(t, err)
			require.Contains(t, got, fmt.Sprintf("data: %02d\n", i))
		}
		// The stream records a write once it has returned, which may be
		// after the client read its last byte.
		synctest.Wait()
		assert.Equal(t, int64(n), rec.Sum(metrics.Delivered, metrics.Event{}))
		assert.LessOrEqual(t, rec.Count(metrics.Delivered, metrics.Event{}), 2, "the first write, then all the rest in one")
		require.NoError(t, h.Shutdown(context.Background()))
	})
}

// With WriteDelay, messages that arrive within it of the last write wait
// and share the next one; without, each goes out in its own write.
func TestWriteDelayCoalesces(t *testing.T) {
	for _, tc := range []struct {
		delay     time.Duration
		minWrites int
		maxWrites int
	}{
		{0, 20, 20},                   // one write per message, 5 ms apart
		{50 * time.Millisecond, 2, 4}, // about one write per 50 ms
	} {
		t.Run(fmt.Sprint(tc.delay), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := &metricstest.Recorder{}
				b := &bus.Memory{Buffer: 64}
				defer b.Close()
				h := &Handler{Broker: b, Heartbeat: -1, Metrics: rec, WriteDelay: tc.delay}
				hc := serveSlow(t, h, 0, 0)
				r := openStream(t, hc, "http://pipe/?topic=t")
				rec.Reset()
				const n = 20
				events := make(chan string, n)
				go func() { // a client that reads as fast as it can
					defer close(events)
					for range n {
						got, err := readEvent(r)
						if err != nil {
							return
						}
						events <- got
					}
				}()
				for i := range n {
					publish(t, b, "t", bus.Message{Data: fmt.Appendf(nil, "%02d", i)})
					time.Sleep(5 * time.Millisecond)
				}
				for i := range n {
					got, ok := <-events
					require.True(t, ok, "event %d", i)
					require.Contains(t, got, fmt.Sprintf("data: %02d\n", i))
				}
				synctest.Wait() // the handler reports a write once it ended
				assert.Equal(t, int64(n), rec.Sum(metrics.Delivered, metrics.Event{}))
				writes := rec.Count(metrics.Delivered, metrics.Event{})
				assert.GreaterOrEqual(t, writes, tc.minWrites)
				assert.LessOrEqual(t, writes, tc.maxWrites)
				require.NoError(t, h.Shutdown(context.Background()))
			})
		})
	}
}
