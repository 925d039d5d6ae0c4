package sse

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/testnet"
)

// A benchServer is the server under test: sse.Handler on bus.Memory, or the
// hand-written minimal loop.
type benchServer struct {
	handler http.Handler
	publish func(seq int, data []byte)
	close   func()
}

func newBenchServer(kind string) benchServer {
	switch kind {
	case "pushpull", "pushpull-buffer4", "pushpull-nohijack", "pushpull-hijack", "pushpull-plain":
		b := &bus.Memory{}
		if kind == "pushpull-buffer4" {
			b.Buffer = 4 // each subscription's channel: 4 messages instead of 16
		}
		h := &Handler{Broker: b}
		// The two ways of streaming HTTP/1.x, whatever the default is:
		// hijacked, or on net/http's ResponseWriter.
		switch kind {
		case "pushpull-hijack":
			h.DisableHijack = false
		case "pushpull-plain", "pushpull-nohijack":
			h.DisableHijack = true
		}
		return benchServer{
			handler: h,
			publish: func(_ int, data []byte) {
				_, _ = b.Publish(context.Background(), "bench", bus.Message{Data: data})
			},
			close: func() { _ = h.Shutdown(context.Background()); b.Close() },
		}
	default:
		h := &minimalHub{}
		return benchServer{
			handler: h,
			publish: func(seq int, data []byte) { h.publish(strconv.Itoa(seq), data) },
			close:   func() {},
		}
	}
}

// loadgen starts the subscriber process (TestLoadgen) and waits until it
// is ready.
func loadgen(b *testing.B, addr string, conns, msgs int) *testnet.Child {
	b.Helper()
	return testnet.StartChild(b, []string{"-test.run=^TestLoadgen$", "-test.v=false"},
		"PUSHPULL_SSE_LOADGEN="+addr, "LOADGEN_PATH=/?topic=bench",
		"LOADGEN_CONNS="+strconv.Itoa(conns), "LOADGEN_MSGS="+strconv.Itoa(msgs))
}

func serveBench(b *testing.B, h http.Handler) (string, func()) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	return l.Addr().String(), func() { srv.Close() }
}

// BenchmarkFanout publishes to one topic with 1,000 and 10,000 subscribers
// held by a separate process, and reports the server's CPU time per
// delivered message and the publish-to-receive latency, for sse.Handler
// (by default, hijacked and plain) and for the minimal hand-written loop.
// Run it with -benchtime=1x.
func BenchmarkFanout(b *testing.B) {
	for _, subs := range []int{1000, 10000} {
		for _, kind := range []string{"minimal", "pushpull", "pushpull-hijack", "pushpull-plain"} {
			b.Run(fmt.Sprintf("subs=%d/server=%s", subs, kind), func(b *testing.B) {
				const msgs = 100
				every := 20 * time.Millisecond * time.Duration(subs/1000)
				if subs >= 10000 {
					every = 100 * time.Millisecond
				}
				s := newBenchServer(kind)
				defer s.close()
				addr, stop := serveBench(b, s.handler)
				defer stop()
				lg := loadgen(b, addr, subs, msgs)
				defer lg.Stop()
				time.Sleep(200 * time.Millisecond) // let every stream settle
				pad := strings.Repeat("x", 80)
				b.ResetTimer()
				cpu0 := testnet.CPUTime()
				tick := time.NewTicker(every)
				for i := range msgs {
					s.publish(i+1, fmt.Appendf(nil, "%d %s", time.Now().UnixNano(), pad))
					<-tick.C
				}
				tick.Stop()
				res := strings.Fields(lg.Expect(b, "done"))
				cpu := testnet.CPUTime() - cpu0
				b.StopTimer()
				p50, _ := strconv.ParseFloat(res[1], 64)
				p99, _ := strconv.ParseFloat(res[2], 64)
				got, _ := strconv.ParseFloat(res[3], 64)
				b.ReportMetric(float64(cpu.Nanoseconds())/got, "cpu-ns/delivery")
				b.ReportMetric(p50/1e3, "p50-µs")
				b.ReportMetric(p99/1e3, "p99-µs")
				b.ReportMetric(got/float64(subs*msgs), "delivered-fraction")
			})
		}
	}
}

// BenchmarkIdleStreams opens 5,000 idle streams (PUSHPULL_SSE_IDLE_CONNS
// sets another number) from a separate process and
// reports the server's heap+stack and RSS growth per stream, and goroutines
// per stream. Run it with -benchtime=1x.
func BenchmarkIdleStreams(b *testing.B) {
	for _, kind := range []string{"minimal", "pushpull", "pushpull-buffer4", "pushpull-nohijack", "pushpull-hijack", "pushpull-plain"} {
		b.Run("server="+kind, func(b *testing.B) {
			conns := 5000
			if v, err := strconv.Atoi(os.Getenv("PUSHPULL_SSE_IDLE_CONNS")); err == nil && v > 0 {
				conns = v
			}
			s := newBenchServer(kind)
			defer s.close()
			addr, stop := serveBench(b, s.handler)
			defer stop()
			heap0, rss0, g0 := memNow()
			stack0 := stackInuse()
			lg := loadgen(b, addr, conns, 0)
			time.Sleep(500 * time.Millisecond)
			heap1, rss1, g1 := memNow()
			stack1 := stackInuse()
			if f := os.Getenv("PUSHPULL_SSE_HEAPPROFILE"); f != "" {
				if w, err := os.Create(f + "." + kind); err == nil {
					_ = pprof.WriteHeapProfile(w)
					w.Close()
				}
			}
			lg.Stop()
			n := float64(conns)
			b.ReportMetric(float64(heap1-heap0)/n/1024, "heap+stack-KiB/stream")
			b.ReportMetric(float64(rss1-rss0)/n/1024, "rss-KiB/stream")
			b.ReportMetric(float64(stack1-stack0)/n/1024, "stack-KiB/stream")
			b.ReportMetric(float64(g1-g0)/n, "goroutines/stream")
		})
	}
}

func memNow() (heapStack, rss uint64, goroutines int) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseUint(f[1], 10, 64)
				rss = kb * 1024
			}
		}
	}
	return ms.HeapInuse + ms.StackInuse, rss, runtime.NumGoroutine()
}

func stackInuse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.StackInuse
}

// BenchmarkNotice measures how long a Handler takes to notice that its
// clients left: 200 idle streams with the default heartbeat, opened one
// after the other over 5 seconds, whose clients (in this process) then all
// close their connections at once. It reports the
// mean and the longest time from the close to the return of the stream's
// ServeHTTP, hijacked and plain. Run it with -benchtime=1x.
func BenchmarkNotice(b *testing.B) {
	const noticeSpread = 5 * time.Second
	for _, kind := range []string{"pushpull-hijack", "pushpull-plain"} {
		b.Run("server="+kind, func(b *testing.B) {
			const conns = 200
			s := newBenchServer(kind)
			defer s.close()
			ended := make(chan time.Time, conns)
			addr, stop := serveBench(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s.handler.ServeHTTP(w, r)
				ended <- time.Now()
			}))
			defer stop()
			var sum, longest time.Duration
			for range b.N {
				// Streams opened one after the other: each client leaves
				// at another point of its stream's life.
				open := make([]net.Conn, conns)
				for i := range open {
					open[i] = openIdle(b, addr)
					time.Sleep(noticeSpread / conns)
				}
				closed := time.Now()
				for _, c := range open {
					c.Close()
				}
				for range conns {
					d := (<-ended).Sub(closed)
					sum += d
					longest = max(longest, d)
				}
			}
			b.ReportMetric(float64(sum.Microseconds())/float64(conns*b.N)/1e3, "notice-ms-mean")
			b.ReportMetric(float64(longest.Microseconds())/1e3, "notice-ms-max")
		})
	}
}

// openIdle opens a stream at addr and reads its response head and
// prelude, so the stream runs when it returns.
func openIdle(b *testing.B, addr string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	fmt.Fprintf(c, "GET /?topic=bench HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatal("stream not opened:", err)
	}
	// The prelude ends with the top's id: two blank lines in all.
	for blank := 0; blank < 2; {
		line, err := br.ReadString('\n')
		if err != nil {
			b.Fatal(err)
		}
		if line == "\n" || line == "\r\n" {
			blank++
		}
	}
	return c
}

// BenchmarkOverload publishes at a fixed rate for a few seconds to 2,000
// subscribers held by a separate process, and reports what fraction of the
// messages arrived, how many streams the server cut (slow) or reset
// (expired), and the server's CPU time per delivered message. The server
// runs with GOMAXPROCS=1. Run it with -benchtime=1x; PUSHPULL_SSE_OVERLOAD
// ("subs×rate×seconds", e.g. "2000x500x5") replaces the default rounds,
// and PUSHPULL_SSE_OVERLOAD_HISTORY sets the broker's HistorySize.
func BenchmarkOverload(b *testing.B) {
	rounds := [][3]int{{2000, 250, 5}, {2000, 500, 5}}
	if v := os.Getenv("PUSHPULL_SSE_OVERLOAD"); v != "" {
		var r [3]int
		if _, err := fmt.Sscanf(v, "%dx%dx%d", &r[0], &r[1], &r[2]); err != nil {
			b.Fatal("PUSHPULL_SSE_OVERLOAD:", err)
		}
		rounds = [][3]int{r}
	}
	for _, r := range rounds {
		subs, rate, secs := r[0], r[1], r[2]
		b.Run(fmt.Sprintf("subs=%d/rate=%d", subs, rate), func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
			msgs := rate * secs
			br := &bus.Memory{}
			if v, err := strconv.Atoi(os.Getenv("PUSHPULL_SSE_OVERLOAD_HISTORY")); err == nil {
				br.HistorySize = v
			}
			var slow, expired, writes, written atomic.Int64
			h := &Handler{Broker: br, Metrics: metrics.RecorderFunc(func(e metrics.Event) {
				if e.Kind == metrics.Delivered {
					writes.Add(1)
					written.Add(e.N)
				}
				if e.Kind != metrics.ConnClosed {
					return
				}
				switch e.Outcome {
				case metrics.ReasonSlow:
					slow.Add(1)
				case metrics.ReasonExpired:
					expired.Add(1)
				}
			})}
			defer br.Close()
			defer func() { _ = h.Shutdown(context.Background()) }()
			addr, stop := serveBench(b, h)
			defer stop()
			lg := loadgen(b, addr, subs, msgs)
			defer lg.Stop()
			time.Sleep(200 * time.Millisecond)
			pad := strings.Repeat("x", 200)
			b.ResetTimer()
			cpu0 := testnet.CPUTime()
			start := time.Now()
			every := time.Second / time.Duration(rate)
			late := 0
			for i := range msgs {
				// On schedule: message i goes out at start + i×every.
				if d := time.Until(start.Add(time.Duration(i) * every)); d > 0 {
					time.Sleep(d)
				} else if d < -every {
					late++
				}
				_, _ = br.Publish(context.Background(), "bench", bus.Message{Data: fmt.Appendf(nil, "%d %s", time.Now().UnixNano(), pad)})
			}
			res := strings.Fields(lg.Expect(b, "done"))
			cpu := testnet.CPUTime() - cpu0
			b.StopTimer()
			p50, _ := strconv.ParseFloat(res[1], 64)
			p99, _ := strconv.ParseFloat(res[2], 64)
			got, _ := strconv.ParseFloat(res[3], 64)
			b.ReportMetric(got/float64(subs*msgs), "delivered-fraction")
			b.ReportMetric(float64(slow.Load()), "cut")
			b.ReportMetric(float64(expired.Load()), "reset")
			b.ReportMetric(float64(cpu.Nanoseconds())/max(got, 1), "cpu-ns/delivery")
			b.ReportMetric(p50/1e6, "p50-ms")
			b.ReportMetric(p99/1e6, "p99-ms")
			b.ReportMetric(float64(late)/float64(msgs), "late-fraction")
			b.ReportMetric(float64(written.Load())/float64(max(writes.Load(), 1)), "msgs/write")
		})
	}
}
