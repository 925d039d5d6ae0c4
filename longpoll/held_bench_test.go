package longpoll_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/pushpull/pushpull/testnet"
)

// BenchmarkHeld10k measures the server's memory per held request with
// 10,000 requests held at once by a second process (the test binary run
// again as TestHeldLoadgen: raw HTTP/1.1 GETs over 127.0.0.1 that read
// nothing). It reports the growth of heap+stack in use (after two
// collections) and of the process's RSS, per held request, and the
// goroutines per held request. Run each case in a fresh process
// (-benchtime=1x, one -bench pattern per run): RSS is only meaningful
// then.
func BenchmarkHeld10k(b *testing.B) {
	const held = 10000
	for _, kind := range []string{"longpoll", "longpoll-listener", "bare"} {
		b.Run("server="+kind, func(b *testing.B) {
			for range b.N {
				s := newBenchServer(b, kind)
				defer s.close()
				heap0, rss0, g0 := memNow()
				stack0 := stackInUse()
				lg := testnet.StartChild(b, []string{"-test.run=^TestHeldLoadgen$", "-test.v=false"},
					"PUSHPULL_LONGPOLL_LOADGEN="+s.addr, "LOADGEN_PATH=/?topic=bench&after="+s.top,
					"LOADGEN_CONNS="+strconv.Itoa(held))
				for s.held() < held {
					time.Sleep(10 * time.Millisecond)
				}
				time.Sleep(500 * time.Millisecond)
				heap1, rss1, g1 := memNow()
				stack1 := stackInUse()
				b.ReportMetric(float64(heap1-heap0)/held/1024, "heap+stack-KiB/held")
				b.ReportMetric(float64(rss1-rss0)/held/1024, "rss-KiB/held")
				b.ReportMetric(float64(stack1-stack0)/held/1024, "stack-KiB/held")
				b.ReportMetric(float64(g1-g0)/held, "goroutines/held")
				lg.Stop()
			}
		})
	}
}

// A benchServer is the server under test, serving on 127.0.0.1: the
// Handler held in ServeHTTP ("longpoll"), the Handler with its Listener
// ("longpoll-listener"), or the hand-written bare loop ("bare").
type benchServer struct {
	addr    string
	top     string // the cursor of the topic "bench" before any message
	held    func() int
	publish func(data []byte)
	close   func()
}

func newBenchServer(b *testing.B, kind string) benchServer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var s benchServer
	var handler http.Handler
	stop := func() {}
	switch kind {
	case "bare":
		bl := &bareLoop{}
		handler, s.held, s.publish, s.top = bl, func() int { return int(bl.held.Load()) }, bl.publish, "0"
	default:
		br := &bus.Memory{HistorySize: 10000}
		h := &longpoll.Handler{Broker: br, MaxHeld: -1, Timeout: time.Hour}
		if kind == "longpoll-listener" {
			l = h.Listener(l)
		}
		handler, s.held = h, h.Held
		s.publish = func(data []byte) {
			if _, err := br.Publish(context.Background(), "bench", bus.Message{Data: data}); err != nil {
				b.Error(err)
			}
		}
		s.top, _ = br.Top(context.Background(), "bench")
		stop = func() { _ = h.Shutdown(context.Background()); br.Close() }
	}
	srv := &http.Server{Handler: handler}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	s.addr = l.Addr().String()
	s.close = func() { stop(); srv.Close(); <-done }
	return s
}

// bareLoop is a small hand-written long-poll handler: a slice of encoded
// messages whose index is the cursor, and a channel closed on each
// publication that held requests wait on, with a timer each.
type bareLoop struct {
	held atomic.Int64
	mu   sync.Mutex
	msgs [][]byte
	next chan struct{}
}

func (s *bareLoop) publish(data []byte) {
	s.mu.Lock()
	id := len(s.msgs) + 1
	m, _ := json.Marshal(map[string]any{"id": strconv.Itoa(id), "data": string(data)})
	s.msgs = append(s.msgs, m)
	if s.next != nil {
		close(s.next)
		s.next = nil
	}
	s.mu.Unlock()
}

func (s *bareLoop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	after, _ := strconv.Atoi(r.URL.Query().Get("after"))
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if len(s.msgs) > after {
			batch := s.msgs[after:min(len(s.msgs), after+100)]
			s.mu.Unlock()
			body := append([]byte(`{"messages":[`), bytes.Join(batch, []byte(","))...)
			body = fmt.Appendf(body, `],"cursor":"%d"}`, after+len(batch))
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
			return
		}
		if s.next == nil {
			s.next = make(chan struct{})
		}
		next := s.next
		s.mu.Unlock()
		s.held.Add(1)
		select {
		case <-next:
			s.held.Add(-1)
		case <-timer.C:
			s.held.Add(-1)
			_, _ = fmt.Fprintf(w, `{"messages":[],"cursor":"%d"}`, after)
			return
		case <-r.Context().Done():
			s.held.Add(-1)
			return
		}
	}
}

func memNow() (heapStack, rss uint64, goroutines int) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseUint(f[1], 10, 64)
				rss = kb * 1024
			}
		}
	}
	return ms.HeapInuse + ms.StackInuse, rss, runtime.NumGoroutine()
}

// TestHeldLoadgen is the client process of BenchmarkHeld10k: it opens
// LOADGEN_CONNS connections, sends one GET on each, prints "ready" and
// keeps them open until its standard input closes.
func TestHeldLoadgen(t *testing.T) {
	addr := os.Getenv("PUSHPULL_LONGPOLL_LOADGEN")
	if addr == "" {
		t.Skip("only run by the benchmarks")
	}
	conns, _ := strconv.Atoi(os.Getenv("LOADGEN_CONNS"))
	req := "GET " + os.Getenv("LOADGEN_PATH") + " HTTP/1.1\r\nHost: bench\r\n\r\n"
	open := make([]net.Conn, 0, conns)
	for range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fmt.Println("error", err)
			return
		}
		if _, err := c.Write([]byte(req)); err != nil {
			fmt.Println("error", err)
			return
		}
		open = append(open, c)
	}
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until stdin closes
	for _, c := range open {
		c.Close()
	}
}
