package ws

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/testnet"
	"github.com/stretchr/testify/require"
)

// frameServer serves one subscription: it acks the first subscribe at
// its cursor, writes the frames send gives it, then waits for the Client to
// leave.
func frameServer(send func(write func(frame []byte) error) error) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		_, p, err := c.Read(ctx)
		if err != nil {
			return
		}
		sub, _ := decodeEnvelope(p)
		write := func(frame []byte) error { return c.Write(ctx, websocket.MessageText, frame) }
		if write(encode(&envelope{Op: opAck, Ref: sub.Ref, Topic: sub.Topic, ID: sub.After})) != nil || send(write) != nil {
			return
		}
		_, _, _ = c.Read(ctx) // until the Client leaves
	}))
}

// dialFrameServer connects a Client to srv.
func dialFrameServer(tb testing.TB, ctx context.Context, srv *httptest.Server) *Client {
	tb.Helper()
	c := NewClient("ws" + strings.TrimPrefix(srv.URL, "http"))
	if err := c.Connect(ctx); err != nil {
		tb.Fatal(err)
	}
	return c
}

// TestClientReceivesFramesOfEverySize: messages keep their content while
// the Client reuses its read buffer for later frames, small and large
// (over maxReadBuffer), batched or not.
func TestClientReceivesFramesOfEverySize(t *testing.T) {
	var want []bus.Message
	for n := 1; n <= 60; n++ {
		m := bus.Message{Topic: "t", ID: "e-" + strconv.Itoa(n), Type: "x", Data: []byte(strings.Repeat(strconv.Itoa(n), n))}
		switch {
		case n%13 == 0:
			m.Data = []byte(strings.Repeat("y", maxReadBuffer+n)) // a frame that outgrows the buffer
		case n%5 == 0:
			m.Data = []byte{0xff, byte(n), '\n'} // travels as data64
			m.Meta = map[string]string{"k\u2028": strconv.Itoa(n) + "\n", "k": strconv.Itoa(n)}
		case n%2 == 0:
			m.Data = []byte(strings.Repeat(strconv.Itoa(n)+`"\`, n)) // escaped in JSON
		}
		want = append(want, m)
	}
	srv := frameServer(func(write func([]byte) error) error {
		var f []byte
		for i, m := range want {
			f = appendBatch(f, encodeMessage(m))
			if i%4 != 1 || i%13 == 0 { // frames of 1 to 4 envelopes
				if err := write(f); err != nil {
					return err
				}
				f = f[:0]
			}
		}
		if len(f) > 0 {
			return write(f)
		}
		return nil
	})
	defer srv.Close()
	ctx := testCtx(t)
	c := dialFrameServer(t, ctx, srv)
	defer c.Close()
	s, err := c.Subscribe(ctx, "t", "e-0")
	require.NoError(t, err)
	var got []bus.Message
	for range want {
		got = append(got, recv(t, ctx, s))
	}
	for i, m := range got {
		require.Equal(t, want[i].ID, m.ID)
		require.Equal(t, want[i].Data, m.Data, "message %s", m.ID)
		require.Equal(t, want[i].Meta, m.Meta, "message %s", m.ID)
	}
}

// BenchmarkClientReceive measures a Client receiving 256-byte messages
// (JSON payloads, as the load tool sends) in batch frames of 32, from a
// server that only writes prepared frames: per message, mostly the
// Client's reading, decoding and delivery. cpu-ns/op is the process's CPU
// time (Client and server) per message.
func BenchmarkClientReceive(b *testing.B) {
	const batch = 32
	at := time.Date(2026, 12, 3, 10, 7, 26, 123456789, time.UTC)
	data := `{"n":1234567,"at":1764756446123456789,"x":"` + strings.Repeat("x", 74) + `"}`
	tmpl := encodeMessage(bus.Message{Topic: "load", ID: "e-@", Type: "load.tick", Data: []byte(data), Time: at})
	pre, post, _ := bytes.Cut(tmpl, []byte("@"))
	total := b.N
	srv := frameServer(func(write func([]byte) error) error {
		var f, m []byte
		for n := 1; n <= total; n++ {
			m = append(strconv.AppendInt(append(m[:0], pre...), int64(n), 10), post...)
			f = appendBatch(f, m)
			if n%batch == 0 || n == total {
				if err := write(f); err != nil {
					return err
				}
				f = f[:0]
			}
		}
		return nil
	})
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := dialFrameServer(b, ctx, srv)
	defer c.Close()
	b.SetBytes(int64(len(tmpl)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := testnet.CPUTime()
	s, err := c.Subscribe(ctx, "load", "e-0")
	if err != nil {
		b.Fatal(err)
	}
	for range total {
		select {
		case _, ok := <-s.C():
			if !ok {
				b.Fatal(s.Err())
			}
		case <-ctx.Done():
			b.Fatal("timed out waiting for a message")
		}
	}
	cpu := testnet.CPUTime() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(total), "cpu-ns/op")
}
