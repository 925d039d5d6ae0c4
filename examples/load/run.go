package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushpull/pushpull/examples/internal/measure"
	"github.com/pushpull/pushpull/testnet"
)

// transports lists what a run can measure.
var transports = []string{"sse", "ws", "longpoll", "longpoll-listener", "poll", "bare-sse", "bare-ws", "bare-longpoll"}

// Config is one run.
type Config struct {
	Transport    string        `json:"transport"`
	Subs         int           `json:"subs"`          // subscribers, each with its own connection
	Rate         float64       `json:"rate"`          // messages published per second
	Size         int           `json:"size"`          // bytes of each message's payload
	Duration     time.Duration `json:"duration"`      // measured publishing, after the warm-up
	Warmup       time.Duration `json:"warmup"`        // publishing before the measurement
	Drain        time.Duration `json:"drain"`         // longest wait without progress for the last deliveries
	PollInterval time.Duration `json:"poll_interval"` // short polling's interval
	WriteDelay   time.Duration `json:"write_delay"`   // sse and ws Handlers' WriteDelay
	CPUs         string        `json:"cpus"`          // the server's CPUs, as taskset -c takes them; "" pins nothing
	Idle         bool          `json:"idle"`          // open the connections, publish nothing, measure memory
	Kills        int           `json:"kills"`         // connections the server cuts at random during the measurement
}

func (c Config) check() error {
	var errs []error
	if !slices.Contains(transports, c.Transport) {
		errs = append(errs, fmt.Errorf("unknown transport %q (want one of %s)", c.Transport, strings.Join(transports, ", ")))
	}
	if c.Subs < 1 || c.Rate <= 0 || c.Size < 0 || c.Duration <= 0 || c.Warmup < 0 || c.Drain <= 0 || c.PollInterval <= 0 || c.Kills < 0 || c.WriteDelay < 0 {
		errs = append(errs, errors.New("subs, rate, duration, drain and poll interval must be positive; size, warm-up and kills not negative"))
	}
	cpus, err := parseCPUs(c.CPUs)
	if err != nil {
		errs = append(errs, err)
	}
	if len(cpus) > 0 && slices.Max(cpus) >= runtime.NumCPU() {
		errs = append(errs, fmt.Errorf("-cpus %s: this machine has CPUs 0 to %d", c.CPUs, runtime.NumCPU()-1))
	}
	return errors.Join(errs...)
}

// messages returns how many messages a run publishes, and how many of
// them in the warm-up.
func (c Config) messages() (n, warm int) {
	warm = int(math.Round(c.Rate * c.Warmup.Seconds()))
	return warm + max(1, int(math.Round(c.Rate*c.Duration.Seconds()))), warm
}

// Result is what a run measured. Per-connection figures are the server's
// growth over its figures before the subscribers came, divided by Subs.
type Result struct {
	Config  Config `json:"config"`
	Machine string `json:"machine"`
	Pinning string `json:"pinning"` // how server and generator were kept apart
	Load    string `json:"load_average_before"`
	LoadEnd string `json:"load_average_after"`

	Published    int     `json:"published"`
	Expected     int64   `json:"expected"`  // published × subs
	Delivered    int64   `json:"delivered"` // distinct (subscriber, message) receipts
	DeliveredPct float64 `json:"delivered_pct"`
	Lost         int64   `json:"lost"`
	Duplicated   int64   `json:"duplicated"`
	Bad          int64   `json:"bad"` // payloads not understood
	P50          float64 `json:"latency_p50_ms"`
	P99          float64 `json:"latency_p99_ms"`

	CPUPer1000 float64          `json:"server_cpu_ms_per_1000"`     // after the warm-up, to the end of the drain
	GenPer1000 float64          `json:"generator_cpu_ms_per_1000"`  // the same for this process, the subscribers
	GenBusy    float64          `json:"generator_busy_pct"`         // its CPU time over the time, in % of one CPU
	MemPerConn float64          `json:"server_mem_per_conn_bytes"`  // heap+stack after a GC, connected
	RSSPerConn float64          `json:"server_rss_per_conn_bytes"`  // resident set: connected and idle, or at the end of publishing
	GorPerConn float64          `json:"server_goroutines_per_conn"` // goroutines, connected
	Cuts       int64            `json:"cuts"`                       // connections the server cut as stalled
	Killed     int              `json:"killed"`                     // connections cut at random on purpose (Config.Kills)
	Resumes    int64            `json:"resumes"`                    // connections or requests the clients made again after one failed or ended
	ClosedBy   map[string]int64 `json:"server_closed_by"`           // connections the server closed during the run, by reason
	Opened     int64            `json:"opened"`                     // streams, WebSockets and held long polls the server opened

	OnSchedule bool     `json:"publisher_on_schedule"`
	MaxLag     float64  `json:"publisher_max_lag_ms"`
	EndLag     float64  `json:"publisher_end_lag_ms"`
	Errors     []string `json:"errors,omitempty"`
}

// failed says why a load run is not clean, or "".
func (r *Result) failed() string {
	var why []string
	if r.Lost != 0 {
		why = append(why, fmt.Sprintf("%d lost", r.Lost))
	}
	if r.Duplicated != 0 {
		why = append(why, fmt.Sprintf("%d duplicated", r.Duplicated))
	}
	if r.Bad != 0 {
		why = append(why, fmt.Sprintf("%d not understood", r.Bad))
	}
	return strings.Join(append(why, r.Errors...), "; ")
}

// child is the server process of a run.
type child struct {
	*measure.Proc
	enc *json.Encoder
	dec *json.Decoder
	mu  sync.Mutex
}

// startServer starts exe as the server, on cpus when taskset is there, and
// says how it was pinned.
func startServer(exe string, cpus []int) (*child, string, error) {
	argv, env := []string{exe}, []string{serverEnv + "=1"}
	pinning := "none"
	if len(cpus) > 0 {
		if ts, err := exec.LookPath("taskset"); err == nil {
			argv = []string{ts, "-c", joinInts(cpus), exe}
			pinning = "server on CPU " + joinInts(cpus) + " (taskset)"
		} else {
			env = append(env, "GOMAXPROCS="+strconv.Itoa(len(cpus)))
			pinning = "server GOMAXPROCS=" + strconv.Itoa(len(cpus))
		}
	}
	p, err := measure.Start(argv, env...)
	if err != nil {
		return nil, "", err
	}
	return &child{Proc: p, enc: json.NewEncoder(p.Stdin), dec: json.NewDecoder(p.Stdout)}, pinning, nil
}

// pinSelf moves this process, the load generator, to the CPUs the server
// does not use, and says where it went ("" when it stays).
func pinSelf(server []int) string {
	var rest []int
	for i := range runtime.NumCPU() {
		if !slices.Contains(server, i) {
			rest = append(rest, i)
		}
	}
	ts, err := exec.LookPath("taskset")
	if len(server) == 0 || len(rest) == 0 || err != nil {
		return ""
	}
	if exec.Command(ts, "-a", "-p", "-c", joinInts(rest), strconv.Itoa(os.Getpid())).Run() != nil {
		return ""
	}
	return "generator on CPU " + joinInts(rest)
}

func (c *child) call(req request) (answer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var a answer
	if err := c.enc.Encode(req); err != nil {
		return a, fmt.Errorf("server: %s: %w", req.Op, err)
	}
	if err := c.dec.Decode(&a); err != nil {
		return a, fmt.Errorf("server: %s: %w", req.Op, err)
	}
	if a.Error != "" {
		return a, fmt.Errorf("server: %s", a.Error)
	}
	return a, nil
}

func (c *child) stats(gc bool) (serverStats, error) {
	a, err := c.call(request{Op: "stats", GC: gc})
	if err != nil || a.Stats == nil {
		return serverStats{}, errors.Join(err, errors.New("server: no stats"))
	}
	return *a.Stats, nil
}

// run measures one configuration with a fresh server (exe started again).
// Progress lines go to progress. Loss and duplicates are in the Result,
// not in the error.
//
// With profiles set, the server and this process write CPU profiles of the
// run to profiles+"-server.pprof" and profiles+"-generator.pprof", and the
// server what it allocated to profiles+"-server-allocs.pprof".
func run(ctx context.Context, exe string, cfg Config, progress io.Writer, profiles string) (*Result, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cpus, _ := parseCPUs(cfg.CPUs)
	n, warm := cfg.messages()
	res := &Result{Config: cfg, Load: loadAverage(),
		Machine: fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())}
	srv, pinning, err := startServer(exe, cpus)
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	res.Pinning = strings.TrimSuffix(pinning+"; "+pinSelf(cpus), "; ")
	// The server's figures before the subscribers come are the base of
	// the per-connection ones.
	req := request{Op: "serve", Transport: cfg.Transport, History: n + 1000, Interval: cfg.PollInterval, WriteDelay: cfg.WriteDelay}
	if profiles != "" {
		req.Profile = profiles + "-server.pprof"
		stop, err := startProfile(profiles + "-generator.pprof")
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	a, err := srv.call(req)
	var base serverStats
	if err == nil {
		base, err = srv.stats(true)
	}
	if err != nil {
		return nil, err
	}

	tallies := make([]*tally, cfg.Subs)
	for i := range tallies {
		tallies[i] = newTally(n, warm)
	}
	fl, err := startFleet(ctx, cfg.Transport, a.Addr, cfg.PollInterval, tallies)
	if err != nil {
		return nil, err
	}
	defer fl.close()
	// The subscribers are connected when the server holds a connection
	// for each (short polling holds none: a moment's wait is all).
	connected, err := waitConnected(ctx, srv, cfg, progress)
	if err != nil {
		return nil, err
	}
	per := func(v float64) float64 { return v / float64(cfg.Subs) }
	res.MemPerConn = per(float64(connected.Heap+connected.Stack) - float64(base.Heap+base.Stack))
	res.GorPerConn = per(float64(connected.Goroutines - base.Goroutines))
	res.RSSPerConn = per(float64(connected.RSS) - float64(base.RSS))
	if cfg.Idle {
		res.Opened, res.Cuts = connected.Opened, connected.Cuts
		res.Resumes = sum(tallies, func(t *tally) int64 { return t.resumes.Load() })
		res.LoadEnd = loadAverage()
		return res, nil
	}

	res.Published = n
	res.Expected = int64(n) * int64(cfg.Subs)
	delivered := func() int64 { return sum(tallies, func(t *tally) int64 { return t.distinct.Load() }) }
	if _, err := srv.call(request{Op: "publish", N: n, Rate: cfg.Rate, Size: cfg.Size}); err != nil {
		return nil, err
	}
	start := time.Now()
	stopProgress := showProgress(progress, cfg, start, srv, tallies, res.Expected)
	defer stopProgress()
	if err := sleepUntil(ctx, start.Add(cfg.Warmup)); err != nil {
		return nil, err
	}
	st0, err := srv.stats(false)
	if err != nil {
		return nil, err
	}
	d0, gen0, t0 := delivered(), testnet.CPUTime(), time.Now()
	// While the publisher runs: the kills, spread evenly over the
	// measured span, each of a connection open at that moment.
	var pa answer
	kills := 0
	for pa.Publisher == nil {
		if err := sleepUntil(ctx, time.Now().Add(100*time.Millisecond)); err != nil {
			return nil, err
		}
		due := t0.Add(cfg.Duration * time.Duration(kills+1) / time.Duration(cfg.Kills+1))
		if kills < cfg.Kills && !time.Now().Before(due) {
			kills++
			k, err := srv.call(request{Op: "kill"})
			if err != nil {
				return nil, err
			}
			if k.Killed {
				res.Killed++
			}
		}
		if pa, err = srv.call(request{Op: "published"}); err != nil {
			return nil, err
		}
	}
	loaded, err := srv.stats(false)
	if err != nil {
		return nil, err
	}
	// Drain: wait for the last deliveries while they keep coming, but not
	// longer than maxDrains drains in all.
	last, lastAt := delivered(), time.Now()
	drainEnd := lastAt.Add(maxDrains * cfg.Drain)
	for last < res.Expected && time.Since(lastAt) < cfg.Drain && time.Now().Before(drainEnd) && fl.err() == nil {
		if err := sleepUntil(ctx, time.Now().Add(20*time.Millisecond)); err != nil {
			return nil, err
		}
		if d := delivered(); d > last {
			last, lastAt = d, time.Now()
		}
	}
	st1, err := srv.stats(false)
	if err != nil {
		return nil, err
	}
	gen1, t1 := testnet.CPUTime(), time.Now()
	stopProgress()
	dMeasured := delivered()
	// The subscribers end before their records are read.
	fl.close()
	d1 := delivered()
	res.LoadEnd = loadAverage()

	var lat histogram
	for _, t := range tallies {
		lat.merge(&t.lat)
		res.Duplicated += t.dups.Load()
		res.Bad += t.bad.Load()
		res.Resumes += t.resumes.Load()
	}
	res.Delivered = d1
	res.DeliveredPct = 100 * float64(d1) / float64(res.Expected)
	res.Lost = res.Expected - d1
	res.P50 = msOf(lat.quantile(0.50))
	res.P99 = msOf(lat.quantile(0.99))
	res.CPUPer1000 = msOf(st1.CPU-st0.CPU) / float64(max(dMeasured-d0, 1)) * 1000
	res.GenPer1000 = msOf(gen1-gen0) / float64(max(dMeasured-d0, 1)) * 1000
	res.GenBusy = 100 * float64(gen1-gen0) / float64(t1.Sub(t0))
	res.RSSPerConn = per(float64(loaded.RSS) - float64(base.RSS))
	res.Cuts, res.Opened, res.ClosedBy = st1.Cuts, st1.Opened, st1.ClosedBy
	p := pa.Publisher
	res.OnSchedule, res.MaxLag, res.EndLag = p.OnSchedule, msOf(p.MaxLag), msOf(p.EndLag)
	if err := fl.err(); err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
	return res, nil
}

// maxDrains bounds the whole drain, in multiples of Config.Drain, for runs
// whose subscribers keep receiving, too slowly to finish.
const maxDrains = 6

// waitConnected waits until the server holds a connection per subscriber
// (for short polling, a second), then a second more for the last
// handshakes to settle, and returns the server's figures after a GC.
func waitConnected(ctx context.Context, srv *child, cfg Config, progress io.Writer) (serverStats, error) {
	start := time.Now()
	for cfg.Transport != "poll" {
		st, err := srv.stats(false)
		if err != nil {
			return st, err
		}
		if st.Open >= int64(cfg.Subs) {
			break
		}
		if time.Since(start) > 2*time.Minute {
			return st, fmt.Errorf("only %d of %d subscribers connected after 2 minutes", st.Open, cfg.Subs)
		}
		if progress != nil && time.Since(start) > time.Second {
			fmt.Fprintf(progress, "%s: %d of %d connected\n", cfg.Transport, st.Open, cfg.Subs)
		}
		if err := sleepUntil(ctx, time.Now().Add(time.Second)); err != nil {
			return st, err
		}
	}
	if err := sleepUntil(ctx, time.Now().Add(time.Second)); err != nil {
		return serverStats{}, err
	}
	return srv.stats(true)
}

// showProgress prints a line to w every second until the returned
// function is called (which may be called more than once). The server's
// figures in it are the latest it answered: a busy server answers late,
// and the line does not wait for it.
func showProgress(w io.Writer, cfg Config, start time.Time, srv *child, tallies []*tally, expected int64) func() {
	if w == nil {
		return func() {}
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	total := cfg.Warmup + cfg.Duration
	var latest atomic.Pointer[serverStats]
	latest.Store(&serverStats{})
	var asking sync.WaitGroup
	var inFlight atomic.Bool
	ask := func() {
		if inFlight.CompareAndSwap(false, true) {
			asking.Go(func() {
				defer inFlight.Store(false)
				if st, err := srv.stats(false); err == nil {
					latest.Store(&st)
				}
			})
		}
	}
	go func() {
		defer close(stopped)
		defer asking.Wait()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		ask()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			ask()
			d := sum(tallies, func(t *tally) int64 { return t.distinct.Load() })
			r := sum(tallies, func(t *tally) int64 { return t.resumes.Load() })
			var top int64
			for _, t := range tallies {
				top = max(top, t.lastSeq.Load())
			}
			st := latest.Load()
			fmt.Fprintf(w, "%s %5.1fs/%s  delivered %d/%d (%.1f%%)  newest %d  cuts %d  resumes %d  server goroutines %d\n",
				cfg.Transport, time.Since(start).Seconds(), total, d, expected, 100*float64(d)/float64(max(expected, 1)),
				top, st.Cuts, r, st.Goroutines)
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-stopped
		})
	}
}

func sum(ts []*tally, f func(*tally) int64) int64 {
	var s int64
	for _, t := range ts {
		s += f(t)
	}
	return s
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// sleepUntil waits until t or the end of ctx, and returns ctx's error.
func sleepUntil(ctx context.Context, t time.Time) error {
	tm := time.NewTimer(time.Until(t))
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	}
	return ctx.Err()
}

// parseCPUs parses a comma-separated list of CPU numbers.
func parseCPUs(s string) ([]int, error) {
	var cpus []int
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		c, err := strconv.Atoi(f)
		if err != nil || c < 0 {
			return nil, fmt.Errorf("bad CPU %q in -cpus (want numbers such as 0 or 0,1)", f)
		}
		cpus = append(cpus, c)
	}
	return cpus, nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// loadAverage returns the 1, 5 and 15 minute load averages, or "".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
