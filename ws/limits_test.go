package ws

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/retry/retrytest"
	"github.com/pushpull/pushpull/testnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnansweredPingCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		h := &Handler{Broker: b, PingInterval: time.Second, PongTimeout: time.Second}
		hc := testnet.Serve(t, &http.Server{Handler: h})
		ctx := context.Background()

		silent := pipeDial(t, ctx, hc) // never reads, so never answers a ping
		alive := pipeDial(t, ctx, hc)
		readErr := make(chan error, 1)
		go func() {
			_, _, err := alive.Read(ctx) // reading answers pings
			readErr <- err
		}()

		time.Sleep(1500 * time.Millisecond) // first ping sent, not yet late
		synctest.Wait()
		assert.Equal(t, 2, h.connCount())
		time.Sleep(time.Second) // the silent one's pong is overdue
		synctest.Wait()
		assert.Equal(t, 1, h.connCount(), "the silent connection is closed")
		_, _, err := silent.Read(ctx)
		assert.Error(t, err)

		time.Sleep(time.Minute) // many more pings, all answered
		synctest.Wait()
		assert.Equal(t, 1, h.connCount(), "the answering connection stays")

		require.NoError(t, h.Shutdown(ctx))
		assert.Equal(t, websocket.StatusGoingAway, websocket.CloseStatus(<-readErr))
		silent.CloseNow()
	})
}

// TestSlowConsumerFallsBehind: a connection that stops reading while its
// queue overflows is not cut; once it reads again it gets every message,
// in order, from history, and its connection still serves requests.
func TestSlowConsumerFallsBehind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		h := &Handler{Broker: b, QueueSize: 4, PingInterval: -1, WriteTimeout: time.Minute}
		hc := testnet.Serve(t, &http.Server{Handler: h})
		ctx := context.Background()

		fast := pipeDial(t, ctx, hc)
		slow := pipeDial(t, ctx, hc)
		for _, c := range []*websocket.Conn{fast, slow} {
			rawSend(t, ctx, c, `{"op":"subscribe","topic":"t","ref":"s"}`)
			assert.Equal(t, opAck, rawRecv(t, ctx, c).Op)
		}
		const n = 20
		for i := range n {
			// The fast consumer drains each message before the next; the
			// slow one reads nothing yet, so its queue overflows.
			_, err := b.Publish(ctx, "t", bus.Message{Data: []byte{'a' + byte(i)}})
			require.NoError(t, err)
			synctest.Wait()
			assert.Equal(t, string(rune('a'+i)), rawRecv(t, ctx, fast).Data, "the fast consumer gets everything")
		}
		time.Sleep(30 * time.Second) // within WriteTimeout
		synctest.Wait()
		for i := range n {
			e := rawRecv(t, ctx, slow)
			require.Equal(t, opMessage, e.Op)
			assert.Equal(t, string(rune('a'+i)), e.Data, "in order, nothing lost")
		}
		rawSend(t, ctx, slow, `{"op":"publish","topic":"u","ref":"p"}`)
		assert.Equal(t, opAck, rawRecv(t, ctx, slow).Op, "the connection was not cut")
		assert.Equal(t, 2, h.connCount())

		require.NoError(t, h.Shutdown(ctx))
		fast.CloseNow()
		slow.CloseNow()
	})
}

func TestWriteTimeoutCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		h := &Handler{Broker: b, PingInterval: -1, WriteTimeout: 5 * time.Second}
		hc := testnet.Serve(t, &http.Server{Handler: h})
		ctx := context.Background()
		c := pipeDial(t, ctx, hc)
		rawSend(t, ctx, c, `{"op":"subscribe","topic":"t","ref":"s"}`)
		assert.Equal(t, opAck, rawRecv(t, ctx, c).Op)
		_, err := b.Publish(ctx, "t", bus.Message{Data: []byte("x")})
		require.NoError(t, err)
		time.Sleep(4 * time.Second)
		synctest.Wait()
		assert.Equal(t, 1, h.connCount(), "still within the write timeout")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		assert.Equal(t, 0, h.connCount(), "a write stuck past WriteTimeout closes the connection")
		c.CloseNow()
	})
}

func TestMalformedFrames(t *testing.T) {
	tests := []struct {
		name  string
		frame string
		typ   websocket.MessageType
		code  string               // error frame code, or
		close websocket.StatusCode // close status
	}{
		{name: "garbage", frame: "not json at all", code: codeBadRequest},
		{name: "no op", frame: `{"topic":"t"}`, code: codeBadRequest},
		{name: "unknown op", frame: `{"op":"dance","topic":"t"}`, code: codeBadRequest},
		{name: "server op", frame: `{"op":"ack","ref":"1"}`, code: codeBadRequest},
		{name: "bad topic", frame: `{"op":"subscribe","topic":"a b"}`, code: codeInvalidTopic},
		{name: "bad cursor", frame: `{"op":"subscribe","topic":"t","after":"nope"}`, code: codeInvalidCursor},
		{name: "bad type", frame: `{"op":"publish","topic":"t","type":"a\nb","data":"x"}`, code: codeInvalidMessage},
		{name: "data and data64", frame: `{"op":"publish","topic":"t","data":"x","data64":"eA=="}`, code: codeBadRequest},
		{name: "binary", frame: "\x00\x01", typ: websocket.MessageBinary, close: websocket.StatusUnsupportedData},
		{name: "invalid utf8", frame: "\xff\xfe", close: websocket.StatusInvalidFramePayloadData},
		{name: "oversize", frame: `{"op":"publish","topic":"t","data":"` + strings.Repeat("x", DefaultReadLimit) + `"}`, close: websocket.StatusMessageTooBig},
	}
	_, url := newServer(t, &Handler{})
	ctx := testCtx(t)
	bystander := connect(t, NewClient(url))
	bs, err := bystander.Subscribe(ctx, "t", "")
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{Subprotocol}})
			require.NoError(t, err)
			defer c.CloseNow()
			c.SetReadLimit(-1)
			typ := tt.typ
			if typ == 0 {
				typ = websocket.MessageText
			}
			require.NoError(t, c.Write(ctx, typ, []byte(tt.frame)))
			_, p, err := c.Read(ctx)
			if tt.close != 0 {
				assert.Equal(t, tt.close, websocket.CloseStatus(err), "err %v, frame %s", err, p)
				return
			}
			require.NoError(t, err)
			e, err := decodeEnvelope(p)
			require.NoError(t, err)
			assert.Equal(t, opError, e.Op)
			assert.Equal(t, tt.code, e.Code, e.Message)
			// The connection still works.
			rawSend(t, ctx, c, `{"op":"publish","topic":"t","ref":"p","data":"after"}`)
			e = rawRecv(t, ctx, c)
			assert.Equal(t, opAck, e.Op)
			m := recv(t, ctx, bs)
			assert.Equal(t, "after", string(m.Data), "others are unaffected")
		})
	}
}

func TestPolicyViolationAfterManyMalformed(t *testing.T) {
	_, url := newServer(t, &Handler{})
	ctx := testCtx(t)
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{Subprotocol}})
	require.NoError(t, err)
	defer c.CloseNow()
	for range maxMalformed {
		require.NoError(t, c.Write(ctx, websocket.MessageText, []byte("{")))
	}
	for {
		_, _, err := c.Read(ctx)
		if err != nil {
			assert.Equal(t, websocket.StatusPolicyViolation, websocket.CloseStatus(err), "%v", err)
			return
		}
	}
}

func TestOriginCheck(t *testing.T) {
	tests := []struct {
		name     string
		h        *Handler
		origin   string
		accepted bool
	}{
		{"no origin", &Handler{}, "", true},
		{"foreign", &Handler{}, "https://evil.example", false},
		{"allowed pattern", &Handler{OriginPatterns: []string{"*.example"}}, "https://app.example", true},
		{"not matching pattern", &Handler{OriginPatterns: []string{"app.example"}}, "https://evil.example", false},
		{"skip verify", &Handler{InsecureSkipVerify: true}, "https://evil.example", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, url := newServer(t, tt.h)
			ctx := testCtx(t)
			hdr := map[string][]string{}
			if tt.origin != "" {
				hdr["Origin"] = []string{tt.origin}
			}
			c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: hdr, Subprotocols: []string{Subprotocol}})
			if tt.accepted {
				require.NoError(t, err)
				c.CloseNow()
				return
			}
			require.Error(t, err)
			require.NotNil(t, resp)
			assert.Equal(t, 403, resp.StatusCode)
			_ = srv
		})
	}
	t.Run("same origin", func(t *testing.T) {
		srv, url := newServer(t, &Handler{})
		ctx := testCtx(t)
		c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{
			HTTPHeader:   map[string][]string{"Origin": {srv.URL}},
			Subprotocols: []string{Subprotocol},
		})
		require.NoError(t, err)
		c.CloseNow()
	})
}

// TestMaxConnections: past MaxConnections a handshake is answered 503 with
// Retry-After; Connect waits it out until its context ends, and connects once
// a connection is free.
func TestMaxConnections(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		h := &Handler{Broker: b, MaxConnections: 2}
		gate := &retrytest.Gate{}
		gate.Route(h)
		hc := testnet.Serve(t, &http.Server{Handler: gate})
		newClient := func() *Client { return &Client{URL: "ws://pipe.test/", HTTPClient: hc} }
		ctx := context.Background()
		c1 := newClient()
		require.NoError(t, c1.Connect(ctx))
		c2 := newClient()
		require.NoError(t, c2.Connect(ctx))
		defer c2.Close()

		short, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err := newClient().Connect(short)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		var se *StatusError
		require.ErrorAs(t, err, &se, "the last failure")
		assert.Equal(t, http.StatusServiceUnavailable, se.StatusCode)
		assert.Equal(t, time.Second, se.RetryAfter)
		assert.Equal(t, "ws: too many connections", se.Message)
		assert.GreaterOrEqual(t, gate.Count(http.StatusServiceUnavailable), 4, "retried after each Retry-After")

		type result struct {
			c   *Client
			err error
		}
		done := make(chan result, 1)
		refused := gate.Count(http.StatusServiceUnavailable)
		start := time.Now()
		go func() {
			c := newClient()
			done <- result{c, c.Connect(ctx)}
		}()
		synctest.Wait()
		require.Equal(t, refused+1, gate.Count(http.StatusServiceUnavailable))
		require.NoError(t, c1.Close())
		r := <-done
		require.NoError(t, r.err)
		defer r.c.Close()
		assert.GreaterOrEqual(t, time.Since(start), time.Second, "Retry-After waited")
		assert.Equal(t, refused+1, gate.Count(http.StatusServiceUnavailable))
		require.NoError(t, r.c.Close())
		require.NoError(t, c2.Close())
		require.NoError(t, h.Shutdown(ctx))
	})
}

func TestShutdownManyConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,000 connections")
	}
	h := &Handler{}
	_, url := newServer(t, h)
	ctx := testCtx(t)
	const n = 1000
	conns := make([]*websocket.Conn, n)
	done := make(chan error, n)
	for i := range conns {
		c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{Subprotocol}})
		require.NoError(t, err)
		conns[i] = c
		rawSend(t, ctx, c, `{"op":"subscribe","topic":"t","ref":"s"}`)
		assert.Equal(t, opAck, rawRecv(t, ctx, c).Op)
		go func() {
			_, _, err := c.Read(ctx)
			done <- err
		}()
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, h.Shutdown(sctx), "every client answered the close in time")
	t.Logf("Shutdown closed %d connections in %v", n, time.Since(start))
	for range n {
		assert.Equal(t, websocket.StatusGoingAway, websocket.CloseStatus(<-done))
	}
	assert.Equal(t, 0, h.connCount())
	_, _, err := websocket.Dial(ctx, url, nil)
	assert.Error(t, err, "no new connections after Shutdown")
}

func TestShutdownBudgetAbortsSilentPeers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &bus.Memory{}
		defer b.Close()
		h := &Handler{Broker: b, PingInterval: -1}
		hc := testnet.Serve(t, &http.Server{Handler: h})
		ctx := context.Background()
		silent := pipeDial(t, ctx, hc) // never reads: the close frame cannot even be written
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		start := time.Now()
		err := h.Shutdown(sctx)
		assert.True(t, errors.Is(err, context.DeadlineExceeded))
		assert.Equal(t, time.Second, time.Since(start), "Shutdown returns at its budget")
		assert.Equal(t, 0, h.connCount())
		silent.CloseNow()
	})
}
