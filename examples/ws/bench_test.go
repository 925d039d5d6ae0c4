package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	gws "github.com/gorilla/websocket"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/testnet"
	"github.com/pushpull/pushpull/ws"
)

// Server-side comparison of pushpull's ws.Handler with the usual fan-out
// loops written directly on coder/websocket and gorilla/websocket: one
// writer goroutine and a 16-frame channel per connection plus a reader,
// as in those libraries' chat examples. The clients run in a child
// process, so CPU time and memory are the server's.
//
//	go test ./examples/ws -run '^$' -bench . -benchtime 400x

// A benchServer is one of the compared servers.
type benchServer struct {
	name    string
	proto   string // "pushpull" or "raw"
	handler http.Handler
	publish func(p []byte)
	close   func()
}

func newPushpull() *benchServer {
	b := &bus.Memory{}
	h := &ws.Handler{Broker: b, InsecureSkipVerify: true}
	return &benchServer{
		name: "pushpull", proto: "pushpull", handler: h,
		publish: func(p []byte) { b.Publish(context.Background(), "t", bus.Message{Data: p}) },
		close: func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			h.Shutdown(ctx)
			b.Close()
		},
	}
}

// fanout is the subscriber set of the bare loops.
type fanout struct {
	mu   sync.Mutex
	subs map[chan []byte]func()
	wg   sync.WaitGroup
}

func (f *fanout) add(ch chan []byte, kill func()) {
	f.mu.Lock()
	f.subs[ch] = kill
	f.mu.Unlock()
}

func (f *fanout) remove(ch chan []byte) {
	f.mu.Lock()
	delete(f.subs, ch)
	f.mu.Unlock()
}

func (f *fanout) publish(p []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch, kill := range f.subs {
		select {
		case ch <- p:
		default:
			go kill() // slow consumer
		}
	}
}

func (f *fanout) closeAll() {
	f.mu.Lock()
	for _, kill := range f.subs {
		kill()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func newCoderLoop() *benchServer {
	f := &fanout{subs: map[chan []byte]func(){}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.wg.Add(1)
		defer f.wg.Done()
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			return
		}
		defer c.CloseNow()
		ch := make(chan []byte, 16)
		f.add(ch, func() { c.CloseNow() })
		defer f.remove(ch)
		ctx := c.CloseRead(context.Background())
		for {
			select {
			case p := <-ch:
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := c.Write(wctx, websocket.MessageText, p)
				cancel()
				if err != nil {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	})
	return &benchServer{name: "coder-loop", proto: "raw", handler: h, publish: f.publish, close: f.closeAll}
}

func newGorillaLoop() *benchServer {
	f := &fanout{subs: map[chan []byte]func(){}}
	up := gws.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.wg.Add(1)
		defer f.wg.Done()
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		ch := make(chan []byte, 16)
		f.add(ch, func() { c.Close() })
		defer f.remove(ch)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				if _, _, err := c.NextReader(); err != nil {
					return
				}
			}
		}()
		for {
			select {
			case p := <-ch:
				c.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if err := c.WriteMessage(gws.TextMessage, p); err != nil {
					c.Close()
					<-done
					return
				}
			case <-done:
				return
			}
		}
	})
	return &benchServer{name: "gorilla-loop", proto: "raw", handler: h, publish: f.publish, close: f.closeAll}
}

var servers = []func() *benchServer{newPushpull, newCoderLoop, newGorillaLoop}

func serverName(f func() *benchServer) string {
	s := f()
	s.close()
	return s.name
}

// startClients runs the client process against url and waits until it is
// ready.
func startClients(b *testing.B, url, proto string, conns, expect int) *testnet.Child {
	b.Helper()
	return testnet.StartChild(b, nil, loadClientEnv+"=1", "URL="+url, "PROTO="+proto,
		"CONNS="+strconv.Itoa(conns), "EXPECT="+strconv.Itoa(expect))
}

// BenchmarkFanout publishes b.N messages, 20 per second, to one topic with
// 1,000 subscribed connections, and reports the server's CPU time per
// delivered message and the p50/p99 publish-to-receive latency.
func BenchmarkFanout(b *testing.B) {
	const conns = 1000
	const rate = 20
	for _, newServer := range servers {
		b.Run(serverName(newServer), func(b *testing.B) {
			s := newServer()
			srv := httptest.NewServer(s.handler)
			defer srv.Close()
			defer s.close()
			url := "ws" + strings.TrimPrefix(srv.URL, "http")
			clients := startClients(b, url, s.proto, conns, b.N)
			defer clients.Stop()
			runtime.GC()
			start := testnet.CPUTime()
			b.ResetTimer()
			tick := time.NewTicker(time.Second / rate)
			for range b.N {
				<-tick.C
				s.publish(strconv.AppendInt(nil, time.Now().UnixNano(), 10))
			}
			tick.Stop()
			line := clients.Expect(b, "done")
			b.StopTimer()
			used := testnet.CPUTime() - start
			var p50, p99 int64
			if _, err := fmt.Sscanf(line, "done %d %d", &p50, &p99); err != nil {
				b.Fatalf("client process: %q %v", line, err)
			}
			b.ReportMetric(float64(used.Nanoseconds())/float64(b.N*conns), "cpu-ns/delivery")
			b.ReportMetric(float64(p50)/1e6, "p50-ms")
			b.ReportMetric(float64(p99)/1e6, "p99-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkIdleMemory holds idle connections (5,000, or
// PUSHPULL_IDLE_CONNS; subscribed to a topic, for pushpull) and reports the
// server's growth per connection: heap and goroutine stacks after GC, and
// resident memory (VmRSS), which also counts what the runtime has not
// returned to the system.
//
//	PUSHPULL_IDLE_CONNS=10000 go test ./examples/ws -run '^$' -bench IdleMemory -benchtime 1x
func BenchmarkIdleMemory(b *testing.B) {
	conns := 5000
	if n, err := strconv.Atoi(os.Getenv("PUSHPULL_IDLE_CONNS")); err == nil && n > 0 {
		conns = n
	}
	for _, newServer := range servers {
		b.Run(serverName(newServer), func(b *testing.B) {
			s := newServer()
			srv := httptest.NewServer(s.handler)
			defer srv.Close()
			defer s.close()
			url := "ws" + strings.TrimPrefix(srv.URL, "http")
			before := memInUse()
			rssBefore := rss()
			clients := startClients(b, url, s.proto, conns, 0)
			defer clients.Stop()
			time.Sleep(time.Second) // let the server side settle
			after := memInUse()
			rssAfter := rss()
			if path := os.Getenv("PUSHPULL_HEAPPROFILE"); path != "" {
				f, err := os.Create(path + "." + s.name)
				if err == nil {
					pprof.WriteHeapProfile(f)
					f.Close()
				}
			}
			b.ReportMetric(float64(after.heap+after.stack-before.heap-before.stack)/float64(conns), "bytes/conn")
			b.ReportMetric(float64(after.heap-before.heap)/float64(conns), "heap-B/conn")
			b.ReportMetric(float64(after.stack-before.stack)/float64(conns), "stack-B/conn")
			if rssBefore > 0 && rssAfter > 0 {
				b.ReportMetric(float64(rssAfter-rssBefore)/float64(conns), "rss-B/conn")
			}
			b.ReportMetric(float64(runtime.NumGoroutine())/float64(conns), "goroutines/conn")
			b.ReportMetric(0, "ns/op")
		})
	}
}

type memStats struct{ heap, stack int64 }

func memInUse() memStats {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memStats{heap: int64(m.HeapInuse + m.MSpanInuse + m.MCacheInuse), stack: int64(m.StackInuse)}
}

// rss returns the process's resident memory in bytes (VmRSS), or 0 where
// /proc is missing.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
