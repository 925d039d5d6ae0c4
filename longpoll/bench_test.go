package longpoll_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire/pollwiretest"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/pushpull/pushpull/testnet"
)

// BenchmarkLatency measures publish → answer latency with 1,000 held
// requests: each iteration publishes one message once all 1,000 clients are
// held and waits for all of them to receive it.
func BenchmarkLatency(b *testing.B) {
	const clients = 1000
	br := &bus.Memory{}
	defer br.Close()
	h := &longpoll.Handler{Broker: br, MaxHeld: -1}
	srv := httptest.NewServer(h)
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 2 * clients, MaxConnsPerHost: 0}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	ctx, cancel := context.WithCancel(context.Background())
	top, _ := br.Top(ctx, "bench")

	arrivals := make(chan time.Time, clients)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cursor := top
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"?topic=bench&after="+cursor, nil)
				resp, err := hc.Do(req)
				if err != nil {
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if i := strings.LastIndex(string(body), `"cursor":"`); i >= 0 {
					c := string(body[i+10:])
					cursor = c[:strings.IndexByte(c, '"')]
				}
				if strings.Contains(string(body), `"id"`) {
					arrivals <- time.Now()
				}
			}
		}()
	}
	lat := make([]time.Duration, 0, clients*b.N)
	b.ResetTimer()
	for range b.N {
		for h.Held() < clients {
			time.Sleep(100 * time.Microsecond)
		}
		start := time.Now()
		if _, err := br.Publish(ctx, "bench", bus.Message{Data: []byte(`{"temp":20.5}`)}); err != nil {
			b.Fatal(err)
		}
		for range clients {
			lat = append(lat, (<-arrivals).Sub(start))
		}
	}
	b.StopTimer()
	cancel()
	wg.Wait()
	b.ReportMetric(float64(testnet.Percentile(lat, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(testnet.Percentile(lat, 99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

// BenchmarkHeldMemory measures the server's memory per held request over
// 5,000 requests held at once. The clients are raw TCP connections that
// send one request and read nothing, so client-side memory stays small
// (a connection object each); it is measured separately and subtracted.
// The "idle" case holds requests in a handler that only waits for the
// client to leave: the cost of net/http itself.
func BenchmarkHeldMemory(b *testing.B) {
	const held = 5000
	for _, tc := range []struct {
		name string
		h    func(bus.Broker) (http.Handler, func() int)
	}{
		{"longpoll", func(br bus.Broker) (http.Handler, func() int) {
			h := &longpoll.Handler{Broker: br, MaxHeld: -1, Timeout: time.Hour}
			return h, h.Held
		}},
		{"naive-subscribe-select", func(br bus.Broker) (http.Handler, func() int) {
			// One subscription per request and a select with time.After:
			// the straightforward handler, for comparison.
			var mu sync.Mutex
			n := 0
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				q := r.URL.Query()
				sub, err := br.Subscribe(r.Context(), q.Get("topic"), q.Get("after"))
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				defer sub.Close()
				mu.Lock()
				n++
				mu.Unlock()
				defer func() { mu.Lock(); n--; mu.Unlock() }()
				var msgs []bus.Message
				select {
				case m := <-sub.C():
					msgs = append(msgs, m)
				case <-time.After(time.Hour):
				case <-r.Context().Done():
					return
				}
				_ = json.NewEncoder(w).Encode(map[string]any{"messages": msgs})
			}), func() int { mu.Lock(); defer mu.Unlock(); return n }
		}},
		{"idle-net-http", func(bus.Broker) (http.Handler, func() int) {
			var mu sync.Mutex
			n := 0
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				n++
				mu.Unlock()
				<-r.Context().Done()
				mu.Lock()
				n--
				mu.Unlock()
			}), func() int { mu.Lock(); defer mu.Unlock(); return n }
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				perReq, client, stack := heldMemory(b, held, tc.h)
				b.ReportMetric(perReq/1024, "KiB/held")
				b.ReportMetric(stack/1024, "stack-KiB/held")
				b.ReportMetric(client/1024, "client-KiB/conn")
			}
		})
	}
}

func heldMemory(b *testing.B, held int, mk func(bus.Broker) (http.Handler, func() int)) (perReq, client, stack float64) {
	br := &bus.Memory{}
	defer br.Close()
	h, count := mk(br)
	srv := httptest.NewServer(h)
	defer srv.Close()
	top, _ := br.Top(context.Background(), "mem")
	req := []byte("GET /?topic=mem&after=" + top + " HTTP/1.1\r\nHost: bench\r\n\r\n")
	addr := srv.Listener.Addr().String()

	// Client-side cost: dial and keep connections to a listener that never
	// answers.
	sink, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var acc []net.Conn
	var accMu sync.Mutex
	go func() {
		for {
			c, err := sink.Accept()
			if err != nil {
				return
			}
			accMu.Lock()
			acc = append(acc, c)
			accMu.Unlock()
		}
	}()
	before := memInUse()
	var sinkConns []net.Conn
	for range held {
		c, err := net.Dial("tcp", sink.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		sinkConns = append(sinkConns, c)
	}
	client = float64(memInUse()-before) / float64(held) / 2 // both ends are in this process
	for _, c := range sinkConns {
		c.Close()
	}
	sink.Close()
	accMu.Lock()
	for _, c := range acc {
		c.Close()
	}
	accMu.Unlock()

	before = memInUse()
	stack0 := stackInUse()
	conns := make([]net.Conn, 0, held)
	for range held {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
	}
	for count() < held {
		time.Sleep(time.Millisecond)
	}
	perReq = float64(memInUse()-before)/float64(held) - client
	stack = float64(stackInUse()-stack0) / float64(held)
	for _, c := range conns {
		c.Close()
	}
	for count() > 0 {
		time.Sleep(time.Millisecond)
	}
	return perReq, client, stack
}

// memInUse returns heap and stack memory in use after collections. Each
// collection may halve the stack of a goroutine that uses less than a
// quarter of it, so a few of them reach the steady state of a server whose
// held requests wait through several collections.
func memInUse() int64 {
	for range 4 {
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse)
}

func stackInUse() int64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.StackInuse)
}

// BenchmarkWire measures requests and bytes on the wire (both directions,
// HTTP headers included) per delivered message, one message every 20 ms to
// one long-polling client.
func BenchmarkWire(b *testing.B) {
	br := &bus.Memory{}
	defer br.Close()
	counter := &pollwiretest.Counter{Handler: &longpoll.Handler{Broker: br}}
	srv := httptest.NewUnstartedServer(counter)
	cl := &testnet.CountingListener{Listener: srv.Listener}
	srv.Listener = cl
	srv.Start()
	defer srv.Close()
	ctx := context.Background()
	sub, err := longpoll.NewClient(srv.URL).Subscribe(ctx, "wire", "")
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	reqs0, bytes0 := counter.Requests.Load(), cl.Read.Load()+cl.Written.Load()
	b.ResetTimer()
	for i := range b.N {
		time.Sleep(20 * time.Millisecond)
		if _, err := br.Publish(ctx, "wire", bus.Message{Type: "reading", Data: fmt.Appendf(nil, `{"temp":%d}`, i)}); err != nil {
			b.Fatal(err)
		}
		<-sub.C()
	}
	b.StopTimer()
	reqs, bytes := counter.Requests.Load()-reqs0, cl.Read.Load()+cl.Written.Load()-bytes0
	b.ReportMetric(float64(reqs)/float64(b.N), "req/msg")
	b.ReportMetric(float64(bytes)/float64(b.N), "B/msg")
}
