package ws

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/testnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pipeline writes frames back to back on c from a goroutine while the test
// goroutine reads the replies, and returns the replies read until want
// arrived or the connection ended (with the error that ended it).
func pipeline(t *testing.T, ctx context.Context, c *websocket.Conn, frames [][]byte, want int) ([]envelope, error) {
	t.Helper()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	werr := make(chan error, 1)
	go func() {
		for _, p := range frames {
			if err := c.Write(wctx, websocket.MessageText, p); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	var got []envelope
	var rerr error
	for len(got) < want {
		_, p, err := c.Read(ctx)
		if err != nil {
			rerr = err
			break
		}
		got = append(got, splitFrame(t, p)...)
	}
	if rerr != nil {
		cancel() // unblocks the writer
	}
	if err := <-werr; rerr == nil {
		require.NoError(t, err)
	}
	closed := "none"
	if rerr != nil {
		closed = rerr.Error()
	}
	t.Logf("%d requests sent back to back: %d of %d reply frames read; close: %s", len(frames), len(got), want, closed)
	return got, rerr
}

// TestPipelinedRequestsAreAllAnswered sends thousands of requests back to
// back on one connection whose client reads every reply: the replies queue
// up faster than they are written, and the connection must push back on
// the sender instead of closing as a slow consumer.
func TestPipelinedRequestsAreAllAnswered(t *testing.T) {
	const n = 5000
	t.Run("publish", func(t *testing.T) {
		h := &Handler{}
		_, url := newServer(t, h)
		ctx := testCtx(t)
		c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{Subprotocol}})
		require.NoError(t, err)
		defer c.CloseNow()
		frames := make([][]byte, n)
		for i := range frames {
			frames[i] = fmt.Appendf(nil, `{"op":"publish","topic":"t","ref":"%d","data":"m%d"}`, i, i)
		}
		got, err := pipeline(t, ctx, c, frames, n)
		require.NoError(t, err, "closed after %d of %d replies", len(got), n)
		var last bus.Position
		for i, e := range got {
			assert.Equal(t, opAck, e.Op, "reply %d: %s %s", i, e.Code, e.Message)
			assert.Equal(t, fmt.Sprint(i), e.Ref, "replies in request order")
			p, err := bus.ParseID(e.ID)
			require.NoError(t, err)
			assert.True(t, i == 0 || p.Follows(last), "each publish stored once: %s after %s", e.ID, last.ID())
			last = p
		}
		top, err := h.Broker.Top(ctx, "t")
		require.NoError(t, err)
		assert.Equal(t, top, last.ID(), "nothing stored but the publishes acked")
	})
	t.Run("publish to a topic the connection subscribes to", func(t *testing.T) {
		_, url := newServer(t, &Handler{})
		ctx := testCtx(t)
		c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{Subprotocol}})
		require.NoError(t, err)
		defer c.CloseNow()
		rawSend(t, ctx, c, `{"op":"subscribe","topic":"t","ref":"s"}`)
		require.Equal(t, opAck, rawRecv(t, ctx, c).Op)
		frames := make([][]byte, n)
		for i := range frames {
			frames[i] = fmt.Appendf(nil, `{"op":"publish","topic":"t","ref":"%d","data":"m%d"}`, i, i)
		}
		got, err := pipeline(t, ctx, c, frames, 2*n)
		require.NoError(t, err, "closed after %d of %d frames", len(got), 2*n)
		acks, msgs := 0, 0
		for _, e := range got {
			switch e.Op {
			case opAck:
				assert.Equal(t, fmt.Sprint(acks), e.Ref)
				acks++
			case opMessage:
				assert.Equal(t, fmt.Sprintf("m%d", msgs), e.Data)
				msgs++
			default:
				t.Errorf("unexpected %s %s %s", e.Op, e.Code, e.Message)
			}
		}
		assert.Equal(t, n, acks)
		assert.Equal(t, n, msgs)
	})
	t.Run("subscribe and unsubscribe", func(t *testing.T) {
		_, url := newServer(t, &Handler{})
		ctx := testCtx(t)
		c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{Subprotocol}})
		require.NoError(t, err)
		defer c.CloseNow()
		frames := make([][]byte, 0, 2*n)
		for i := range n {
			frames = append(frames,
				fmt.Appendf(nil, `{"op":"subscribe","topic":"t%d","ref":"s%d"}`, i%7, i),
				fmt.Appendf(nil, `{"op":"unsubscribe","topic":"t%d","ref":"u%d"}`, i%7, i))
		}
		got, err := pipeline(t, ctx, c, frames, 2*n)
		require.NoError(t, err, "closed after %d of %d replies", len(got), 2*n)
		for i, e := range got {
			assert.Equal(t, opAck, e.Op, "reply %d: %s %s", i, e.Code, e.Message)
			want := fmt.Sprintf("s%d", i/2)
			if i%2 == 1 {
				want = fmt.Sprintf("u%d", i/2)
			}
			assert.Equal(t, want, e.Ref)
		}
	})
}

// TestConcurrentClientPublishesAreAllAcked publishes from many goroutines
// through one Client: every Publish gets its ack, so no caller sees
// ErrNoAck (and, retrying, stores a duplicate). The same holds when the
// Client also subscribes to the topic, and so gets every message back.
func TestConcurrentClientPublishesAreAllAcked(t *testing.T) {
	const n = 1000
	for _, subscribed := range []bool{false, true} {
		t.Run(fmt.Sprintf("subscribed=%v", subscribed), func(t *testing.T) {
			h := &Handler{}
			_, url := newServer(t, h)
			ctx := testCtx(t)
			c := connect(t, NewClient(url))
			got := make(chan int, 1)
			if subscribed {
				s, err := c.Subscribe(ctx, "t", "")
				require.NoError(t, err)
				go func() {
					k := 0
					for range s.C() {
						if k++; k == n {
							break
						}
					}
					got <- k
				}()
			} else {
				got <- n
			}
			errs := make(chan error, n)
			ids := make(chan string, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					m, err := c.Publish(ctx, "t", bus.Message{Data: fmt.Appendf(nil, "%d", i)})
					if err != nil {
						errs <- err
						return
					}
					ids <- m.ID
				})
			}
			wg.Wait()
			close(errs)
			close(ids)
			failed := 0
			for err := range errs {
				failed++
				if failed <= 3 {
					assert.NoError(t, err)
				}
			}
			t.Logf("%d concurrent Publish calls: %d acked, %d failed", n, n-failed, failed)
			assert.Zero(t, failed, "publishes without an ack")
			seen := make(map[string]bool)
			for id := range ids {
				assert.False(t, seen[id], "id %s acked twice", id)
				seen[id] = true
			}
			msgs, err := h.Broker.Read(ctx, "t", bus.Oldest, n+1)
			require.NoError(t, err)
			assert.Equal(t, n, len(msgs), "messages stored")
			if failed == 0 {
				assert.Equal(t, n, <-got, "messages received back")
			}
		})
	}
}

// TestNonReadingPipelinerIsCut sends requests without ever reading the
// replies: the server stops reading its frames once replies are queued,
// so it holds a bounded number of them, and cuts the connection once its
// write has been stuck for WriteTimeout.
func TestNonReadingPipelinerIsCut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		var mu sync.Mutex
		read := 0
		h := &Handler{
			Broker: b, QueueSize: 8, PingInterval: -1, WriteTimeout: 5 * time.Second,
			OnMessage: func(context.Context, *Conn, websocket.MessageType, []byte) bool {
				mu.Lock()
				read++
				mu.Unlock()
				return false
			},
		}
		hc := testnet.Serve(t, &http.Server{Handler: h})
		ctx := context.Background()
		c := pipeDial(t, ctx, hc) // never reads
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		// At most 1,000 frames, so that a server reading them all ends.
		wdone := make(chan struct{})
		go func() {
			defer close(wdone)
			for i := range 1000 {
				p := fmt.Appendf(nil, `{"op":"publish","topic":"t","ref":"%d","data":"x"}`, i)
				if c.Write(wctx, websocket.MessageText, p) != nil {
					return
				}
			}
		}()
		time.Sleep(4 * time.Second)
		synctest.Wait()
		assert.Equal(t, 1, h.connCount(), "still within the write timeout")
		mu.Lock()
		held := read
		mu.Unlock()
		assert.LessOrEqual(t, held, 8, "frames read while the replies were not")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		assert.Equal(t, 0, h.connCount(), "a write stuck past WriteTimeout closes the connection")
		cancel()
		c.CloseNow()
		<-wdone
	})
}
