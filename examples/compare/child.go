package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/examples/internal/measure"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/pushpull/pushpull/poll"
	"github.com/pushpull/pushpull/sse"
	"github.com/pushpull/pushpull/webhook"
	"github.com/pushpull/pushpull/ws"
)

// childEnv, set in the environment, makes the program the server of one
// pattern, driven by commands on its standard input (see serveChild).
const childEnv = "PUSHPULL_COMPARE_SERVER"

// topic is the one topic of the workload.
const topic = "compare"

// server is the child process: a bus, one pattern's handler on a loopback
// listener (or, for webhooks, a Dispatcher posting to the parent's
// receivers) and a publisher.
type server struct {
	pattern  string
	broker   *bus.Memory
	l        *wireListener
	count    *counting
	srv      *http.Server
	shutdown func(context.Context)
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	sent     chan error    // the publisher's result
	forced   time.Duration // CPU time of the collections stats forced
}

// stats is what the server reports of itself.
type stats struct {
	CPU        time.Duration `json:"cpu"`        // user+system CPU time so far, but forced GCs
	Heap       uint64        `json:"heap"`       // live heap bytes (after a GC when asked)
	Stack      uint64        `json:"stack"`      // goroutine stack bytes
	Goroutines int           `json:"goroutines"` // goroutines running
	Wire       wire          `json:"wire"`       // counters of its listener
}

// serveChild runs the server side of a comparison. The parent writes one
// command per line and reads one answer line per command; an answer starting
// with "error" is a failure. Commands:
//
//	serve <pattern> <poll interval ns> <SSE retry ns> <history>   → ready <addr>
//	hooks <clients> <url with {i}> <whsec secret>  → ok   (webhook only)
//	stats [gc]                                     → stats <json>
//	run <messages> <rate per s> <size>             → ok   (publishes in the background)
//	wait                                           → published <n>
//	cut                                            → cut <connections>
//
// It ends when its input ends.
func serveChild(in io.Reader, out io.Writer) int {
	s := &server{}
	defer s.close()
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		answer, err := s.do(f[0], f[1:])
		if err != nil {
			fmt.Fprintf(out, "error %s: %v\n", f[0], err)
			return 1
		}
		fmt.Fprintln(out, answer)
	}
	return 0
}

func (s *server) do(cmd string, args []string) (string, error) {
	need := map[string]int{"serve": 4, "hooks": 3, "run": 3}[cmd]
	if len(args) < need {
		return "", fmt.Errorf("want %d arguments", need)
	}
	if cmd != "serve" && s.broker == nil {
		return "", errors.New("not serving")
	}
	switch cmd {
	case "serve":
		interval, err1 := strconv.ParseInt(args[1], 10, 64)
		retry, err2 := strconv.ParseInt(args[2], 10, 64)
		history, err3 := strconv.Atoi(args[3])
		if err := errors.Join(err1, err2, err3); err != nil {
			return "", err
		}
		return s.serve(args[0], time.Duration(interval), time.Duration(retry), history)
	case "hooks":
		n, err := strconv.Atoi(args[0])
		if err != nil {
			return "", err
		}
		return "ok", s.hooks(n, args[1], args[2])
	case "stats":
		if len(args) > 0 && args[0] == "gc" {
			// The forced collection is the measurement's cost, not the
			// pattern's: its CPU time is left out of what stats reports.
			t := cpuTime()
			runtime.GC()
			s.forced += cpuTime() - t
		}
		b, err := json.Marshal(s.stats())
		return "stats " + string(b), err
	case "run":
		n, err1 := strconv.Atoi(args[0])
		rate, err2 := strconv.ParseFloat(args[1], 64)
		size, err3 := strconv.Atoi(args[2])
		if err := errors.Join(err1, err2, err3); err != nil {
			return "", err
		}
		s.sent = make(chan error, 1)
		go func() { s.sent <- publish(s.ctx, s.broker, n, rate, size) }()
		return "ok", nil
	case "wait":
		if s.sent == nil {
			return "", errors.New("not running")
		}
		if err := <-s.sent; err != nil {
			return "", err
		}
		return "published", nil
	case "cut":
		if s.l == nil {
			return "", errors.New("no listener")
		}
		return fmt.Sprintf("cut %d", s.l.cut()), nil
	}
	return "", fmt.Errorf("unknown command")
}

// serve starts the pattern's handler on a loopback port. Every handler
// keeps its package's defaults but for the poll interval and the SSE retry
// time, which the workload sets (zero: the default), and the history, sized
// so that no resume can outlive it.
func (s *server) serve(pattern string, interval, retry time.Duration, history int) (string, error) {
	s.pattern = pattern
	s.broker = &bus.Memory{HistorySize: history}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	mux := http.NewServeMux()
	switch pattern {
	case "poll":
		mux.Handle("GET /poll/{topic}", &poll.Handler{Broker: s.broker, Interval: interval})
	case "longpoll":
		h := &longpoll.Handler{Broker: s.broker}
		mux.Handle("GET /longpoll/{topic}", h)
		s.shutdown = func(ctx context.Context) { _ = h.Shutdown(ctx) }
	case "sse":
		h := &sse.Handler{Broker: s.broker, Retry: retry}
		mux.Handle("GET /sse/{topic}", h)
		s.shutdown = func(ctx context.Context) { _ = h.Shutdown(ctx) }
	case "ws":
		h := &ws.Handler{Broker: s.broker}
		mux.Handle("GET /ws", h)
		s.shutdown = func(ctx context.Context) { _ = h.Shutdown(ctx) }
	case "webhook":
		return "ready -", nil // the Dispatcher starts with the hooks command
	default:
		return "", fmt.Errorf("unknown pattern %q", pattern)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	s.l = newWireListener(l)
	s.count = &counting{h: mux}
	s.srv = &http.Server{Handler: s.count, ReadHeaderTimeout: 10 * time.Second}
	s.wg.Go(func() { _ = s.srv.Serve(s.l) })
	return "ready " + l.Addr().String(), nil
}

// hooks registers one endpoint per client with a Dispatcher and starts it.
// Each endpoint is a service of its own, so the Sender keeps a connection
// per endpoint (every client's receiver is on the same loopback port, so
// the transport's per-host pool is as large as the clients).
func (s *server) hooks(n int, url, secret string) error {
	if s.pattern != "webhook" {
		return errors.New("not the webhook pattern")
	}
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		return err
	}
	d := &webhook.Dispatcher{
		Broker: s.broker,
		Sender: &webhook.Sender{
			Client: &http.Client{Transport: &http.Transport{
				MaxIdleConnsPerHost: n,
				IdleConnTimeout:     time.Minute,
			}},
			// Short retries, so a forced disconnect costs about what a
			// reconnect costs the other patterns.
			Schedule: []time.Duration{50 * time.Millisecond, 200 * time.Millisecond,
				500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second},
		},
		MaxConcurrent: n,
	}
	for i := range n {
		err := d.Add(webhook.Endpoint{
			ID: "client" + strconv.Itoa(i), URL: strings.ReplaceAll(url, "{i}", strconv.Itoa(i)),
			Keys: webhook.Secrets(key), Topic: topic, From: bus.Oldest,
		})
		if err != nil {
			return err
		}
	}
	s.wg.Go(func() { _ = d.Run(s.ctx) })
	return nil
}

func (s *server) stats() stats {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := stats{CPU: cpuTime() - s.forced, Heap: ms.HeapAlloc, Stack: ms.StackInuse, Goroutines: runtime.NumGoroutine()}
	if s.l != nil {
		st.Wire = s.l.wire(s.count.requests.Load(), s.count.notModified.Load())
	}
	return st
}

func (s *server) close() {
	if s.cancel == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s.shutdown != nil {
		s.shutdown(ctx)
	}
	if s.srv != nil {
		_ = s.srv.Shutdown(ctx)
	}
	s.cancel()
	s.wg.Wait()
	_ = s.broker.Close()
}

// publish publishes n messages of the given size at rate per second, each
// carrying its sequence number and the time it was published.
func publish(ctx context.Context, b bus.Publisher, n int, rate float64, size int) error {
	return measure.Pace(ctx, n, rate, func(i int, _ time.Time) error {
		data := encodeTick(tick{Seq: i, T: time.Now().UnixNano()}, size)
		_, err := b.Publish(ctx, topic, bus.Message{Type: "compare.tick", Data: data})
		return err
	})
}

// tick is the payload of every message: its sequence number from 1 and the
// time it was published, in Unix nanoseconds. Pad fills it to the size asked.
type tick struct {
	Seq int    `json:"seq"`
	T   int64  `json:"t"`
	Pad string `json:"pad,omitempty"`
}

// encodeTick returns the JSON of t padded to size bytes (or more, when the
// fields alone are longer). It is one line of valid UTF-8 JSON, so every
// pattern carries it as it is.
func encodeTick(t tick, size int) []byte {
	b, _ := json.Marshal(t)
	if pad := size - len(b) - len(`,"pad":""`); pad > 0 {
		t.Pad = strings.Repeat("x", pad)
		b, _ = json.Marshal(t)
	}
	return b
}
