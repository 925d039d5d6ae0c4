package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushpull/pushpull/examples/internal/measure"
	"github.com/pushpull/pushpull/testnet"
)

// serverEnv, set in the environment, makes the program the server of one
// run, driven by requests on its standard input (see serveChild).
const serverEnv = "PUSHPULL_LOAD_SERVER"

// topic is the one topic of a run.
const topic = "load"

// request is one line the parent writes to the server, a JSON object; the
// server answers each with one line, a JSON answer.
type request struct {
	Op         string        `json:"op"`                    // serve, stats, publish, published, kill
	Transport  string        `json:"transport,omitempty"`   // serve
	History    int           `json:"history,omitempty"`     // serve: messages the topic keeps
	Interval   time.Duration `json:"interval,omitempty"`    // serve: short polling's interval
	WriteDelay time.Duration `json:"write_delay,omitempty"` // serve: the sse and ws Handlers' WriteDelay
	Profile    string        `json:"profile,omitempty"`     // serve: write a CPU profile of the server here
	GC         bool          `json:"gc,omitempty"`          // stats: collect garbage first
	N          int           `json:"n,omitempty"`           // publish: messages
	Rate       float64       `json:"rate,omitempty"`        // publish: per second
	Size       int           `json:"size,omitempty"`        // publish: bytes of payload
}

type answer struct {
	Error     string           `json:"error,omitempty"`
	Addr      string           `json:"addr,omitempty"`      // serve
	Killed    bool             `json:"killed,omitempty"`    // kill: a connection was open and is cut
	Stats     *serverStats     `json:"stats,omitempty"`     // stats
	Publisher *publisherReport `json:"publisher,omitempty"` // published: once the publisher is done
}

// serverStats is what the server says of itself.
type serverStats struct {
	CPU        time.Duration    `json:"cpu"`        // user+system CPU time so far, less the collections stats forced
	Heap       uint64           `json:"heap"`       // live heap bytes
	Stack      uint64           `json:"stack"`      // goroutine stack bytes
	RSS        uint64           `json:"rss"`        // resident set size, 0 where unknown
	Goroutines int              `json:"goroutines"` // goroutines running
	Open       int64            `json:"open"`       // streams, WebSockets and held long polls open
	Opened     int64            `json:"opened"`     // of those, opened so far
	Cuts       int64            `json:"cuts"`       // connections or streams it cut as stalled
	ClosedBy   map[string]int64 `json:"closed_by"`  // connections closed, by reason (metrics.Reason*)
}

// publisherReport says whether the publisher kept to its schedule: message
// n is due start + (n−1)/rate; its lag is how late Publish began.
type publisherReport struct {
	Published  int           `json:"published"`
	MaxLag     time.Duration `json:"max_lag"`
	EndLag     time.Duration `json:"end_lag"` // the last message's lag
	OnSchedule bool          `json:"on_schedule"`
}

// onScheduleLag is the most a message may be late for the publisher to
// count as on schedule.
const onScheduleLag = 250 * time.Millisecond

// server is the child process of a run.
type server struct {
	feed     publisherTo
	hs       *http.Server
	kl       *testnet.KillListener
	opened   atomic.Int64
	closed   atomic.Int64
	shutdown []func(context.Context) error
	cuts     atomic.Int64
	mu       sync.Mutex
	closedBy map[string]int64
	forced   time.Duration
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	pub      chan publisherReport
	pubDone  *publisherReport
	// stopProfile ends the CPU profile, if one is written.
	stopProfile func()
}

// publisherTo is what the publisher publishes to: the bus for pushpull's
// handlers, the bare servers' own log for theirs.
type publisherTo interface {
	publish(ctx context.Context, data []byte) error
	close()
}

// serveChild runs the server side of a run: it reads requests from in and
// writes answers to out until in ends.
func serveChild(in io.Reader, out io.Writer) int {
	s := &server{closedBy: make(map[string]int64)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	defer s.close()
	dec, enc := json.NewDecoder(in), json.NewEncoder(out)
	for {
		var req request
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return 0
			}
			fmt.Fprintln(os.Stderr, "load server:", err)
			return 1
		}
		a, err := s.handle(req)
		if err != nil {
			a = answer{Error: req.Op + ": " + err.Error()}
		}
		if err := enc.Encode(a); err != nil {
			return 1
		}
	}
}

func (s *server) handle(req request) (answer, error) {
	if req.Op != "serve" && s.feed == nil {
		return answer{}, errors.New("not serving")
	}
	switch req.Op {
	case "serve":
		if req.Profile != "" {
			stop, err := startProfile(req.Profile)
			if err != nil {
				return answer{}, err
			}
			// What the server allocated, beside its CPU.
			allocs := strings.TrimSuffix(req.Profile, ".pprof") + "-allocs.pprof"
			s.stopProfile = func() {
				stop()
				if err := writeAllocs(allocs); err != nil {
					fmt.Fprintln(os.Stderr, "load server:", err)
				}
			}
		}
		addr, err := s.serve(req.Transport, req.History, req.Interval, req.WriteDelay)
		return answer{Addr: addr}, err
	case "stats":
		st := s.stats(req.GC)
		return answer{Stats: &st}, nil
	case "publish":
		if s.pub != nil || req.N < 1 || req.Rate <= 0 {
			return answer{}, errors.New("publishing already, or nothing to publish")
		}
		s.pub = make(chan publisherReport, 1)
		s.wg.Go(func() { s.pub <- runPublisher(s.ctx, s.feed, req.N, req.Rate, req.Size) })
		return answer{}, nil
	case "kill":
		if s.kl == nil {
			return answer{}, errors.New("no listener")
		}
		return answer{Killed: s.kl.KillRandom()}, nil
	case "published":
		// Answered at once, so that stats can be asked while the
		// publisher runs.
		if s.pub == nil {
			return answer{}, errors.New("not publishing")
		}
		select {
		case r := <-s.pub:
			s.pubDone = &r
		default:
		}
		return answer{Publisher: s.pubDone}, nil
	}
	return answer{}, fmt.Errorf("unknown op %q", req.Op)
}

func (s *server) stats(gc bool) serverStats {
	if gc {
		// A forced collection is the measurement's cost, not the
		// transport's: its CPU time is left out.
		t := testnet.CPUTime()
		runtime.GC()
		s.forced += testnet.CPUTime() - t
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := serverStats{
		CPU: testnet.CPUTime() - s.forced, Heap: ms.HeapAlloc, Stack: ms.StackInuse,
		RSS: rss(), Goroutines: runtime.NumGoroutine(), Cuts: s.cuts.Load(),
	}
	s.mu.Lock()
	st.ClosedBy = maps.Clone(s.closedBy)
	s.mu.Unlock()
	st.Opened = s.opened.Load()
	st.Open = st.Opened - s.closed.Load()
	return st
}

func (s *server) close() {
	if s.stopProfile != nil {
		defer s.stopProfile()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, f := range s.shutdown {
		_ = f(ctx)
	}
	if s.hs != nil {
		_ = s.hs.Shutdown(ctx)
		_ = s.hs.Close()
	}
	s.cancel()
	if s.feed != nil {
		s.feed.close()
	}
	s.wg.Wait()
}

// runPublisher publishes messages 1 to n at rate per second, and reports
// how late it was.
func runPublisher(ctx context.Context, to publisherTo, n int, rate float64, size int) publisherReport {
	var r publisherReport
	err := measure.Pace(ctx, n, rate, func(k int, due time.Time) error {
		now := time.Now()
		r.EndLag = max(0, now.Sub(due))
		r.MaxLag = max(r.MaxLag, r.EndLag)
		// The bus keeps the slice: each message needs its own.
		if err := to.publish(ctx, appendPayload(nil, k, now.UnixNano(), size)); err != nil {
			return err
		}
		r.Published = k
		return nil
	})
	r.OnSchedule = err == nil && r.MaxLag <= onScheduleLag
	return r
}

// rss returns the resident set size of this process from /proc, or 0.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

// writeAllocs writes the profile of what this process allocated since it
// started, a fresh server per run (`go tool pprof
// -sample_index=alloc_space`), to path.
func writeAllocs(path string) error {
	runtime.GC() // the profile shows allocations as of the last GC
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// startProfile writes a CPU profile of this process to path until the
// returned function is called.
func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
