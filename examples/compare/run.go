package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pushpull/pushpull/examples/internal/measure"
)

// patterns lists the five patterns in the order they are measured.
var patterns = []string{"poll", "longpoll", "sse", "ws", "webhook"}

// Config is one workload. Every pattern gets the same.
type Config struct {
	Patterns     []string      `json:"patterns"`
	Clients      int           `json:"clients"`       // subscribers of the one topic
	Rate         float64       `json:"rate"`          // messages published per second
	Size         int           `json:"size"`          // bytes of each message's data
	Duration     time.Duration `json:"duration"`      // how long each pattern publishes
	PollInterval time.Duration `json:"poll_interval"` // short polling's interval
	SSERetry     time.Duration `json:"sse_retry"`     // SSE's reconnection time; 0: sse.DefaultRetry
	Disconnects  int           `json:"disconnects"`   // times every client's connection is cut
	Drain        time.Duration `json:"drain"`         // longest wait for the last deliveries
}

// messages is how many messages a pattern's run publishes.
func (c Config) messages() int { return max(1, int(math.Round(c.Rate*c.Duration.Seconds()))) }

func (c Config) check() error {
	var errs []error
	for _, p := range c.Patterns {
		if !slices.Contains(patterns, p) {
			errs = append(errs, fmt.Errorf("unknown pattern %q (want some of %s)", p, strings.Join(patterns, ",")))
		}
	}
	if c.Clients < 1 || c.Rate <= 0 || c.Size < 0 || c.Duration <= 0 || c.PollInterval <= 0 || c.SSERetry < 0 || c.Disconnects < 0 || c.Drain <= 0 {
		errs = append(errs, errors.New("clients, rate, duration, poll interval and drain must be positive; size, SSE retry and disconnects not negative"))
	}
	return errors.Join(errs...)
}

// Latency is a distribution of delivery latencies in milliseconds: from the
// publisher's clock reading just before Publish to the consumer's on receipt.
type Latency struct {
	P50 float64 `json:"p50_ms"`
	P95 float64 `json:"p95_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// Result is what one pattern did with the workload.
type Result struct {
	Pattern    string   `json:"pattern"`
	Published  int      `json:"published"`  // messages
	Deliveries int64    `json:"deliveries"` // distinct (client, message) pairs received
	Lost       int64    `json:"lost"`       // published × clients − deliveries
	Duplicated int64    `json:"duplicated"` // receipts beyond the first of a message by a client
	Errors     []string `json:"errors,omitempty"`
	Latency    Latency  `json:"latency"` // of every delivery

	Requests float64 `json:"requests_per_msg"` // HTTP requests per delivery
	Bytes    float64 `json:"bytes_per_msg"`    // bytes on the wire, both ways, per delivery
	Reqs     int64   `json:"requests"`         // HTTP requests during the run (a WebSocket upgrade is one)
	NotMod   int64   `json:"not_modified"`     // of those, answered 304
	Conns    int64   `json:"connections"`      // connections accepted during the run
	Cuts     int     `json:"cuts"`             // forced disconnects
	CutConns int     `json:"cut_connections"`  // connections they closed

	MemClient  float64 `json:"server_mem_per_client_bytes"`  // heap+stack
	GorClient  float64 `json:"server_goroutines_per_client"` // goroutines
	CPUPer1000 float64 `json:"server_cpu_ms_per_1000"`       // server CPU per 1,000 deliveries
}

// failed says why the result is not clean, or "".
func (r Result) failed() string {
	var why []string
	if r.Lost != 0 {
		why = append(why, fmt.Sprintf("%d lost", r.Lost))
	}
	if r.Duplicated != 0 {
		why = append(why, fmt.Sprintf("%d duplicated", r.Duplicated))
	}
	why = append(why, r.Errors...)
	return strings.Join(why, "; ")
}

// Report is a whole comparison.
type Report struct {
	Config  Config   `json:"config"`
	Machine Machine  `json:"machine"`
	Started string   `json:"started"`
	Results []Result `json:"results"`
	Note    string   `json:"note"` // how the figures were taken
}

// compare runs the workload over each pattern in turn, each with its server
// in a child process of its own (exe, run with childEnv set). Progress lines
// go to progress. It returns every result; a pattern that lost or
// duplicated messages has them in its Result, not in the error.
func compare(ctx context.Context, exe string, cfg Config, progress io.Writer) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	rep := &Report{Config: cfg, Machine: machine(), Started: time.Now().UTC().Format(time.RFC3339), Note: note}
	for _, p := range cfg.Patterns {
		r, err := runPattern(ctx, exe, cfg, p, progress)
		if err != nil {
			return rep, fmt.Errorf("%s: %w", p, err)
		}
		rep.Results = append(rep.Results, r)
	}
	return rep, nil
}

const note = "Server in a child process (its CPU from getrusage, without the GCs the measurement forces; heap+stack from runtime.MemStats after a GC, " +
	"the mean of three samples taken while publishing, before any cut, minus the same before the clients came); " +
	"clients in the parent process. Bytes and requests are counted at the listener that accepts the pattern's connections " +
	"(the server's; for webhooks the receivers', as the server is the one that connects)."

// child is a server process.
type child struct {
	*measure.Proc
	out *bufio.Reader
}

func startChild(exe string) (*child, error) {
	p, err := measure.Start([]string{exe}, childEnv+"=1")
	if err != nil {
		return nil, err
	}
	return &child{Proc: p, out: bufio.NewReader(p.Stdout)}, nil
}

func (c *child) call(format string, args ...any) (string, error) {
	cmd := fmt.Sprintf(format, args...)
	if _, err := fmt.Fprintln(c.Stdin, cmd); err != nil {
		return "", fmt.Errorf("server: %s: %w", cmd, err)
	}
	line, err := c.out.ReadString('\n')
	line = strings.TrimSpace(line)
	if err != nil {
		return "", fmt.Errorf("server: %s: %w (%q)", cmd, err, line)
	}
	if strings.HasPrefix(line, "error") {
		return "", fmt.Errorf("server: %s", line)
	}
	return line, nil
}

func (c *child) stats(gc bool) (stats, error) {
	arg := ""
	if gc {
		arg = " gc"
	}
	line, err := c.call("stats%s", arg)
	if err != nil {
		return stats{}, err
	}
	var st stats
	err = json.Unmarshal([]byte(strings.TrimPrefix(line, "stats ")), &st)
	return st, err
}

// memSamples is how many times the server's memory is sampled in a run.
const memSamples = 3

// runPattern measures one pattern with a fresh server.
func runPattern(ctx context.Context, exe string, cfg Config, pattern string, progress io.Writer) (Result, error) {
	res := Result{Pattern: pattern, Published: cfg.messages()}
	n := res.Published
	srv, err := startChild(exe)
	if err != nil {
		return res, err
	}
	defer srv.Stop()
	ready, err := srv.call("serve %s %d %d %d", pattern, int64(cfg.PollInterval), int64(cfg.SSERetry), n+1000)
	if err != nil {
		return res, err
	}
	base, err := srv.stats(true)
	if err != nil {
		return res, err
	}

	sinks := make([]*sink, cfg.Clients)
	var delivered atomic.Int64
	for i := range sinks {
		sinks[i] = newSink(n, &delivered)
	}
	var cl *clients
	if pattern == "webhook" {
		cl, err = startReceivers(sinks)
		if err == nil {
			_, err = srv.call("hooks %d %s %s", cfg.Clients, cl.hookURL, cl.secret)
		}
	} else {
		cl, err = subscribe(ctx, pattern, "http://"+strings.TrimPrefix(ready, "ready "), cfg, sinks)
	}
	if err != nil {
		if cl != nil {
			cl.close()
		}
		return res, err
	}
	defer cl.close()
	// Where the wire is counted, and cut: at the server's listener, or at
	// the receivers' for webhooks.
	wireNow := func() (wire, error) {
		if cl.listener != nil {
			return cl.listener.wire(cl.count.requests.Load(), cl.count.notModified.Load()), nil
		}
		st, err := srv.stats(false)
		return st.Wire, err
	}
	cut := func() (int, error) {
		if cl.listener != nil {
			return cl.listener.cut(), nil
		}
		line, err := srv.call("cut")
		var k int
		if err == nil {
			_, err = fmt.Sscanf(line, "cut %d", &k)
		}
		return k, err
	}

	// Let the last connections settle.
	if err := sleepUntil(ctx, time.Now().Add(200*time.Millisecond)); err != nil {
		return res, err
	}
	w0, err := wireNow()
	if err != nil {
		return res, err
	}
	st0, err := srv.stats(false)
	if err != nil {
		return res, err
	}
	if _, err := srv.call("run %d %g %d", n, cfg.Rate, cfg.Size); err != nil {
		return res, err
	}
	start := time.Now()
	stopProgress := showProgress(progress, pattern, start, cfg, &delivered, int64(n)*int64(cfg.Clients))
	defer stopProgress()

	// Memory and goroutines are the mean of three samples taken before the
	// first cut, away from the reconnections; the cuts are spread evenly
	// over the run.
	d := cfg.Duration
	firstCut := d / time.Duration(cfg.Disconnects+1)
	var mem, gor float64
	for j := 1; j <= memSamples; j++ {
		if err := sleepUntil(ctx, start.Add(firstCut*time.Duration(j)/(memSamples+1))); err != nil {
			return res, err
		}
		mid, err := srv.stats(true)
		if err != nil {
			return res, err
		}
		mem += float64(mid.Heap+mid.Stack) - float64(base.Heap+base.Stack)
		gor += float64(mid.Goroutines - base.Goroutines)
	}
	for k := 1; k <= cfg.Disconnects; k++ {
		if err := sleepUntil(ctx, start.Add(d*time.Duration(k)/time.Duration(cfg.Disconnects+1))); err != nil {
			return res, err
		}
		c, err := cut()
		if err != nil {
			return res, err
		}
		res.Cuts++
		res.CutConns += c
	}
	if _, err := srv.call("wait"); err != nil {
		return res, err
	}
	deadline := time.Now().Add(cfg.Drain)
	for delivered.Load() < int64(n)*int64(cfg.Clients) && time.Now().Before(deadline) && cl.failed() == nil {
		if err := sleepUntil(ctx, time.Now().Add(20*time.Millisecond)); err != nil {
			return res, err
		}
	}
	st1, err := srv.stats(false)
	if err != nil {
		return res, err
	}
	w1, err := wireNow()
	if err != nil {
		return res, err
	}
	stopProgress()
	cl.close()

	var lat []time.Duration
	for _, s := range sinks {
		s.mu.Lock()
		res.Deliveries += int64(s.distinct)
		res.Duplicated += int64(s.dups)
		lat = append(lat, s.lat...)
		if s.bad > 0 {
			res.Errors = append(res.Errors, fmt.Sprintf("%d messages not understood", s.bad))
		}
		s.mu.Unlock()
	}
	res.Lost = int64(n)*int64(cfg.Clients) - res.Deliveries
	if err := cl.failed(); err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
	res.Latency = latency(lat)
	w := w1.sub(w0)
	per := float64(max(res.Deliveries, 1))
	res.Requests = float64(w.Requests) / per
	res.Bytes = float64(w.Read+w.Written) / per
	res.Conns = w.Accepted
	res.Reqs = w.Requests
	res.NotMod = w.NotModified
	res.CPUPer1000 = float64(st1.CPU-st0.CPU) / float64(time.Millisecond) / per * 1000
	res.MemClient = mem / memSamples / float64(cfg.Clients)
	res.GorClient = gor / memSamples / float64(cfg.Clients)
	return res, nil
}

// sleepUntil waits until t or the end of ctx, and returns ctx's error.
func sleepUntil(ctx context.Context, t time.Time) error {
	if d := time.Until(t); d > 0 {
		tm := time.NewTimer(d)
		defer tm.Stop()
		select {
		case <-ctx.Done():
		case <-tm.C:
		}
	}
	return ctx.Err()
}

// latency summarises d, which it sorts: the value at index ⌊(len−1)·p⌋.
func latency(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	at := func(p float64) float64 {
		return float64(d[int(float64(len(d)-1)*p)]) / float64(time.Millisecond)
	}
	return Latency{P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: at(1)}
}

// showProgress prints a progress line to w every 250 ms (on one line, with
// carriage returns, when w is a terminal) until the returned function is
// called, which may be called more than once.
func showProgress(w io.Writer, pattern string, start time.Time, cfg Config, delivered *atomic.Int64, total int64) func() {
	if w == nil {
		return func() {}
	}
	tty := isTerminal(w)
	line := func() string {
		return fmt.Sprintf("%-8s %5.1fs/%s  delivered %d/%d", pattern, time.Since(start).Seconds(), cfg.Duration, delivered.Load(), total)
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		every := 250 * time.Millisecond
		if !tty {
			every = 2 * time.Second
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprintf(w, "\r%s\033[K\n", line())
				} else {
					fmt.Fprintln(w, line())
				}
				return
			case <-t.C:
				if tty {
					fmt.Fprintf(w, "\r%s\033[K", line())
				} else {
					fmt.Fprintln(w, line())
				}
			}
		}
	}()
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			close(done)
			<-stopped
		}
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
