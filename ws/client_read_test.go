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
)

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
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
		if c.Write(ctx, websocket.MessageText, encode(&envelope{Op: opAck, Ref: sub.Ref, Topic: sub.Topic, ID: sub.After})) != nil {
			return
		}
		var f, m []byte
		for n := 1; n <= total; n++ {
			m = append(strconv.AppendInt(append(m[:0], pre...), int64(n), 10), post...)
			f = appendBatch(f, m)
			if n%batch == 0 || n == total {
				if c.Write(ctx, websocket.MessageText, f) != nil {
					return
				}
				f = f[:0]
			}
		}
		_, _, _ = c.Read(ctx) // until the Client leaves
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := NewClient("ws" + strings.TrimPrefix(srv.URL, "http"))
	if err := c.Connect(ctx); err != nil {
		b.Fatal(err)
	}
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
