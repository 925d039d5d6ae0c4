package ws

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/metricstest"
	"github.com/pushpull/pushpull/testnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSteadySlowReaderIsNeverCut: a Client that takes its messages
// slowly but steadily, behind a queue of 4 frames, while the publisher
// bursts, receives every message in order on its first connection.
func TestSteadySlowReaderIsNeverCut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{HistorySize: 10_000}
		defer b.Close()
		srvRec := &metricstest.Recorder{}
		h := &Handler{Broker: b, QueueSize: 4, PingInterval: -1, WriteTimeout: time.Minute, Metrics: srvRec}
		hc := testnet.Serve(t, &http.Server{Handler: h})
		ctx := context.Background()
		c := &Client{URL: "ws://pipe.test/", HTTPClient: hc, Buffer: 1}
		require.NoError(t, c.Connect(ctx))
		sub, err := c.Subscribe(ctx, "t", "")
		require.NoError(t, err)

		const bursts, size = 10, 300
		go func() {
			for range bursts {
				for i := range size {
					_, err := b.Publish(ctx, "t", bus.Message{Data: fmt.Appendf(nil, "m%d", i)})
					if err != nil {
						panic(err)
					}
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		var last bus.Position
		for i := range bursts * size {
			m := <-sub.C()
			p, err := bus.ParseID(m.ID)
			require.NoError(t, err)
			if i > 0 {
				require.True(t, p.Follows(last), "%s after %s", m.ID, last)
			}
			last = p
			assert.Equal(t, fmt.Sprintf("m%d", i%size), string(m.Data))
			time.Sleep(time.Millisecond) // steady, slower than the bursts
		}
		assert.Equal(t, 1, srvRec.Count(metrics.ConnOpened, metrics.Event{}), "one connection: never cut")
		assert.Equal(t, 0, srvRec.Count(metrics.ConnClosed, metrics.Event{}))
		require.NoError(t, c.Close())
		require.NoError(t, h.Shutdown(ctx))
	})
}

// TestFloodedTopicDoesNotHoldBackAnother: on one connection, a topic
// flooded far beyond the queue falls behind, while a message of another
// topic published after the flood arrives long before the flood is
// written.
func TestFloodedTopicDoesNotHoldBackAnother(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{HistorySize: 10_000}
		defer b.Close()
		h := &Handler{Broker: b, QueueSize: 4, PingInterval: -1, WriteTimeout: time.Minute}
		hc := testnet.Serve(t, &http.Server{Handler: h})
		ctx := context.Background()
		c := pipeDial(t, ctx, hc)
		for _, topic := range []string{"flood", "quiet"} {
			rawSend(t, ctx, c, `{"op":"subscribe","topic":"`+topic+`","ref":"s"}`)
			assert.Equal(t, opAck, rawRecv(t, ctx, c).Op)
		}
		const flood = 2000
		for range flood {
			_, err := b.Publish(ctx, "flood", bus.Message{Data: []byte("f")})
			require.NoError(t, err)
		}
		synctest.Wait() // the fan-out has queued what fits
		_, err := b.Publish(ctx, "quiet", bus.Message{Data: []byte("q")})
		require.NoError(t, err)
		synctest.Wait()

		floodSeen, quietAt := 0, -1
		for floodSeen < flood {
			e := rawRecv(t, ctx, c)
			require.Equal(t, opMessage, e.Op)
			switch e.Topic {
			case "flood":
				floodSeen++
				require.Equal(t, fmt.Sprintf("%s-%d", epochOf(t, e.ID), floodSeen), e.ID, "in order")
			case "quiet":
				quietAt = floodSeen
			}
		}
		if quietAt < 0 {
			e := rawRecv(t, ctx, c)
			assert.Equal(t, "quiet", e.Topic)
			quietAt = flood
		}
		t.Logf("the quiet message arrived after %d of %d flood messages", quietAt, flood)
		assert.Less(t, quietAt, flood/4, "the flood does not hold the quiet topic back")

		require.NoError(t, h.Shutdown(ctx))
		c.CloseNow()
	})
}

// TestCursorExpiresWhileBehind: a subscription that falls out of the
// history while behind gets a reset with the top, and its connection
// stays open.
func TestCursorExpiresWhileBehind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{HistorySize: 8}
		defer b.Close()
		h := &Handler{Broker: b, QueueSize: 4, PingInterval: -1, WriteTimeout: time.Minute}
		hc := testnet.Serve(t, &http.Server{Handler: h})
		ctx := context.Background()
		c := pipeDial(t, ctx, hc)
		rawSend(t, ctx, c, `{"op":"subscribe","topic":"t","ref":"s"}`)
		assert.Equal(t, opAck, rawRecv(t, ctx, c).Op)
		var top string
		for range 100 {
			m, err := b.Publish(ctx, "t", bus.Message{Data: []byte("x")})
			require.NoError(t, err)
			top = m.ID
		}
		synctest.Wait()
		var e envelope
		for e = rawRecv(t, ctx, c); e.Op == opMessage; e = rawRecv(t, ctx, c) {
		}
		require.Equal(t, opReset, e.Op, "%+v", e)
		assert.Equal(t, "t", e.Topic)
		assert.Equal(t, top, e.Top)

		rawSend(t, ctx, c, `{"op":"subscribe","topic":"t","ref":"again","after":"`+top+`"}`)
		e = rawRecv(t, ctx, c)
		assert.Equal(t, opAck, e.Op, "the connection stays and the topic can be subscribed again")
		assert.Equal(t, "again", e.Ref)

		require.NoError(t, h.Shutdown(ctx))
		c.CloseNow()
	})
}

func epochOf(t *testing.T, id string) string {
	t.Helper()
	p, err := bus.ParseID(id)
	require.NoError(t, err)
	return p.Epoch
}

var _ = websocket.MessageText

// With WriteDelay, messages queued within it of the last write wait and
// share the next one; without, each goes out when it arrives.
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
				b := &bus.Memory{}
				defer b.Close()
				srvRec := &metricstest.Recorder{}
				h := &Handler{Broker: b, PingInterval: -1, WriteDelay: tc.delay, Metrics: srvRec}
				hc := testnet.Serve(t, &http.Server{Handler: h})
				ctx := context.Background()
				c := &Client{URL: "ws://pipe.test/", HTTPClient: hc}
				require.NoError(t, c.Connect(ctx))
				sub, err := c.Subscribe(ctx, "t", "")
				require.NoError(t, err)
				const n = 20
				published := make(chan struct{})
				go func() {
					defer close(published)
					for i := range n {
						if _, err := b.Publish(ctx, "t", bus.Message{Data: fmt.Appendf(nil, "m%d", i)}); err != nil {
							panic(err)
						}
						time.Sleep(5 * time.Millisecond)
					}
				}()
				for i := range n {
					m := <-sub.C()
					assert.Equal(t, fmt.Sprintf("m%d", i), string(m.Data))
				}
				<-published
				synctest.Wait() // the server reports a write once it ended
				assert.Equal(t, int64(n), srvRec.Sum(metrics.Delivered, metrics.Event{Topic: "t"}))
				writes := srvRec.Count(metrics.Delivered, metrics.Event{Topic: "t"})
				assert.GreaterOrEqual(t, writes, tc.minWrites)
				assert.LessOrEqual(t, writes, tc.maxWrites)
				require.NoError(t, c.Close())
				require.NoError(t, h.Shutdown(ctx))
			})
		})
	}
}
