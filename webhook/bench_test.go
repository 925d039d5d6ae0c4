package webhook

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
)

func benchBodies() []int { return []int{1 << 10, 64 << 10} }

// BenchmarkVerify measures the signature check alone (one key, one
// signature).
func BenchmarkVerify(b *testing.B) {
	keys := swKeys(b)
	now := time.Now()
	for _, size := range benchBodies() {
		body := bytes.Repeat([]byte("x"), size)
		sig, _ := Sign(keys, "msg_bench", now, body)
		h := swHeader("msg_bench", now.Unix(), sig)
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := Verify(keys, h, body, now, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReceiver measures a whole request through the Receiver: read,
// verify, claim, handle, complete (each request a new id).
func BenchmarkReceiver(b *testing.B) {
	keys := swKeys(b)
	now := time.Now()
	for _, size := range benchBodies() {
		body := bytes.Repeat([]byte("x"), size)
		r := &Receiver{Keys: keys, Clock: func() time.Time { return now },
			Handler: func(context.Context, *Event) error { return nil }}
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				req := signedRequest(b, keys, "msg_"+strconv.Itoa(i), now, body)
				w := httptest.NewRecorder()
				r.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
			}
		})
	}
}

// BenchmarkSign measures signing with one HMAC key.
func BenchmarkSign(b *testing.B) {
	keys := swKeys(b)
	body := bytes.Repeat([]byte("x"), 1<<10)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(keys, "msg_bench", now, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDispatcher measures deliveries per second through the
// Dispatcher (bus.Memory, one endpoint, ordered, one at a time) to a
// Receiver on loopback, with a small JSON event; then with a MemoryStore
// (leases, attempt log) and with 8 messages in flight per endpoint.
func BenchmarkDispatcher(b *testing.B) {
	for _, tc := range []struct {
		endpoints int
		file      bool
		store     bool
		conc      int
	}{{1, false, false, 0}, {8, false, false, 0}, {1, true, false, 0}, {1, false, true, 0}, {1, false, true, 8}} {
		endpoints := tc.endpoints
		name := "endpoints=" + strconv.Itoa(endpoints)
		if tc.file {
			name += "/FileCursors"
		}
		if tc.store {
			name += "/MemoryStore"
		}
		if tc.conc > 0 {
			name += "/MaxConcurrent=" + strconv.Itoa(tc.conc)
		}
		b.Run(name, func(b *testing.B) {
			keys := Secrets(Secret("bench"))
			var handled atomic.Int64
			srv := httptest.NewServer(&Receiver{Keys: keys, Handler: func(context.Context, *Event) error {
				handled.Add(1)
				return nil
			}})
			defer srv.Close()
			br := &bus.Memory{HistorySize: b.N + 1}
			defer br.Close()
			sender := &Sender{AllowPrivateNetworks: true}
			d := &Dispatcher{Broker: br, Sender: sender}
			if tc.file {
				d.Cursors = &FileCursors{Dir: b.TempDir()}
			}
			if tc.store {
				d.Store = NewMemoryStore()
			}
			for i := range endpoints {
				topic := "t" + strconv.Itoa(i)
				if err := d.Add(Endpoint{ID: topic, URL: srv.URL, Keys: keys, Topic: topic, From: bus.Oldest, MaxConcurrent: tc.conc}); err != nil {
					b.Fatal(err)
				}
			}
			data := []byte(`{"order":12345,"status":"paid","amount":4200}`)
			b.ResetTimer()
			start := time.Now()
			stop := runDispatcher(d)
			for n := range b.N {
				topic := "t" + strconv.Itoa(n%endpoints)
				if _, err := br.Publish(context.Background(), topic, bus.Message{Type: "order.paid", Data: data}); err != nil {
					b.Fatal(err)
				}
			}
			for handled.Load() < int64(b.N) {
				time.Sleep(time.Millisecond)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			if err := stop(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
		})
	}
}
