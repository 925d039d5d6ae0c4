package poll_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire/pollwiretest"
	"github.com/pushpull/pushpull/poll"
	"github.com/pushpull/pushpull/testnet"
)

// BenchmarkWire measures requests and bytes on the wire (both directions,
// HTTP headers included) per delivered message: one message every 100 ms,
// a client polling every 20 ms (plus jitter), with and without conditional
// requests.
func BenchmarkWire(b *testing.B) {
	for _, tc := range []struct {
		name        string
		conditional bool
	}{{"with-304", true}, {"without-304", false}} {
		b.Run(tc.name, func(b *testing.B) {
			br := &bus.Memory{}
			defer br.Close()
			counter := &pollwiretest.Counter{Handler: &poll.Handler{Broker: br, Interval: 20 * time.Millisecond}}
			srv := httptest.NewUnstartedServer(counter)
			cl := &testnet.CountingListener{Listener: srv.Listener}
			srv.Listener = cl
			srv.Start()
			defer srv.Close()
			var rt http.RoundTripper = http.DefaultTransport
			if !tc.conditional {
				rt = pollwiretest.StripConditional{Base: rt}
			}
			c := &poll.Client{URL: srv.URL, HTTPClient: &http.Client{Transport: rt}, Interval: 20 * time.Millisecond}
			ctx := context.Background()
			sub, err := c.Subscribe(ctx, "wire", "")
			if err != nil {
				b.Fatal(err)
			}
			defer sub.Close()
			reqs0, notMod0, bytes0 := counter.Requests.Load(), counter.NotMod.Load(), cl.Read.Load()+cl.Written.Load()
			b.ResetTimer()
			for i := range b.N {
				time.Sleep(100 * time.Millisecond)
				if _, err := br.Publish(ctx, "wire", bus.Message{Type: "reading", Data: fmt.Appendf(nil, `{"temp":%d}`, i)}); err != nil {
					b.Fatal(err)
				}
				<-sub.C()
			}
			b.StopTimer()
			n := float64(b.N)
			b.ReportMetric(float64(counter.Requests.Load()-reqs0)/n, "req/msg")
			b.ReportMetric(float64(counter.NotMod.Load()-notMod0)/n, "304/msg")
			b.ReportMetric(float64(cl.Read.Load()+cl.Written.Load()-bytes0)/n, "B/msg")
		})
	}
}

// BenchmarkHandler measures the handler alone: a 200 answer with one
// message and a 304 answer.
func BenchmarkHandler(b *testing.B) {
	br := &bus.Memory{}
	defer br.Close()
	msgs := make([]bus.Message, 2)
	for i := range msgs {
		msgs[i], _ = br.Publish(context.Background(), "h", bus.Message{Type: "reading", Data: []byte(`{"temp":20.5}`)})
	}
	h := &poll.Handler{Broker: br}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/?topic=h&after="+msgs[1].ID, nil))
	tag := rec.Header().Get("ETag")
	for _, tc := range []struct{ name, after, inm string }{
		{"200-one-message", msgs[0].ID, ""},
		{"304", msgs[1].ID, tag},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", "/?topic=h&after="+tc.after, nil)
			if tc.inm != "" {
				r.Header.Set("If-None-Match", tc.inm)
			}
			b.ReportAllocs()
			for range b.N {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
			}
		})
	}
}

// BenchmarkWireCurrentState measures bytes on the wire per poll of the
// current state (after=latest: the newest message, here 1 KiB) when nothing
// changed, with and without If-None-Match.
func BenchmarkWireCurrentState(b *testing.B) {
	br := &bus.Memory{}
	defer br.Close()
	state := make([]byte, 1024)
	for i := range state {
		state[i] = 'a' + byte(i%26)
	}
	if _, err := br.Publish(context.Background(), "state", bus.Message{Data: state}); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(&poll.Handler{Broker: br})
	cl := &testnet.CountingListener{Listener: srv.Listener}
	srv.Listener = cl
	srv.Start()
	defer srv.Close()
	for _, tc := range []struct {
		name        string
		conditional bool
	}{{"with-304", true}, {"without-304", false}} {
		b.Run(tc.name, func(b *testing.B) {
			etag := ""
			bytes0 := cl.Read.Load() + cl.Written.Load()
			for range b.N {
				req, _ := http.NewRequest("GET", srv.URL+"?topic=state&after="+poll.Latest, nil)
				if tc.conditional && etag != "" {
					req.Header.Set("If-None-Match", etag)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				etag = resp.Header.Get("ETag")
			}
			b.ReportMetric(float64(cl.Read.Load()+cl.Written.Load()-bytes0)/float64(b.N), "B/poll")
		})
	}
}
