// Command load puts one transport of pushpull — or a bare hand-written
// server of the same wire format, for comparison — under a steady load and
// reports what the server did with it: how much was delivered, lost and
// duplicated, the latency, the server's CPU time per 1,000 deliveries, its
// memory and goroutines per connection, the connections it cut and the
// clients' resumes, and whether its publisher kept to its schedule.
//
// The server runs in a child process of its own, fresh for each run and
// pinned to the CPUs -cpus lists (with taskset when there is one, else
// with GOMAXPROCS), while this process, the load generator, moves to the
// other CPUs. The publisher runs in the server process: message n is due
// at (n−1)/rate after the start, and its lag is how late it was published.
// The subscribers are pushpull's own clients (sse.Client, ws.Client,
// longpoll.Client, poll.Client), or for the bare servers minimal readers
// of theirs, each with a connection of its own; they reconnect after a cut
// and resume from their cursor, so a cut shows as a resume, not as loss.
//
// Transports (-transport):
//
//	sse, ws, longpoll, poll          pushpull's handlers, with their defaults
//	longpoll-listener                longpoll served through Handler.Listener
//	bare-sse                         a net/http loop writing and flushing each event
//	bare-ws                          a coder/websocket loop writing each message
//	bare-longpoll                    a handler answering what is new, or holding
//
// With -idle the subscribers connect and nothing is published: the report
// gives the server's memory and goroutines per idle connection. With
// -kill N the server cuts N connections at random during the measurement,
// each of which must come back as a resume with nothing lost.
//
// Run it from the repository root:
//
//	go run ./examples/load -transport sse -subs 1000 -rate 100
//	go run ./examples/load -transport bare-ws -subs 2000 -rate 250 -size 256 -duration 20s -json ws.json
//	go run ./examples/load -transport ws -subs 10000 -idle
//	go run ./examples/load -transport sse,bare-sse -rounds 3 -subs 1000 -rate 100
//
// Several transports, comma-separated, run one after the other, -rounds
// times in turn; a summary ends the output with each one's medians.
//
// A progress line goes to standard error every second, the table to
// standard output. The exit status is 1 when a message was lost or
// duplicated.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/pushpull/pushpull/examples/internal/measure"
)

func main() {
	measure.ServeIfChild(serverEnv, serveChild)
	os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr))
}

// defaultConfig is a run of a few seconds on two cores.
func defaultConfig() Config {
	return Config{
		Transport:    "sse",
		Subs:         100,
		Rate:         100,
		Size:         256,
		Duration:     10 * time.Second,
		Warmup:       2 * time.Second,
		Drain:        10 * time.Second,
		PollInterval: time.Second,
		CPUs:         "0",
	}
}

// cli runs the command with args and returns its exit status.
func cli(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := defaultConfig()
	list := fs.String("transport", cfg.Transport, "what to load, or several one after the other, comma-separated: "+strings.Join(transports, ","))
	rounds := fs.Int("rounds", 1, "times to run each transport, in turn; the summary gives the medians")
	fs.IntVar(&cfg.Subs, "subs", cfg.Subs, "subscribers, each with a connection of its own")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "messages published per second")
	fs.IntVar(&cfg.Size, "size", cfg.Size, "bytes of each message's payload")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long the measured publishing lasts")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "publishing before the measurement starts")
	fs.DurationVar(&cfg.Drain, "drain", cfg.Drain, "longest wait without a delivery for the last ones (six times this in all)")
	fs.DurationVar(&cfg.PollInterval, "poll", cfg.PollInterval, "short polling's interval")
	fs.DurationVar(&cfg.WriteDelay, "write-delay", 0, "the sse and ws Handlers' WriteDelay (least time between two writes of a connection)")
	fs.StringVar(&cfg.CPUs, "cpus", cfg.CPUs, `the server's CPUs ("0", "0,1"); the generator gets the others; "" pins nothing`)
	fs.BoolVar(&cfg.Idle, "idle", false, "connect the subscribers, publish nothing and report memory per connection")
	fs.IntVar(&cfg.Kills, "kill", 0, "connections the server cuts, one at a time at random, spread over the measurement")
	jsonPath := fs.String("json", "", `write the report as JSON to this file ("-": standard output)`)
	md := fs.Bool("markdown", false, "print the results as rows of a Markdown table")
	profiles := fs.String("profile", "", "write CPU profiles of each run's server and generator, and the server's allocations, to this directory")
	if status, ok := measure.ParseFlags(fs, args); !ok {
		return status
	}
	var cfgs []Config
	for range max(*rounds, 1) {
		for t := range strings.SplitSeq(*list, ",") {
			c := cfg
			c.Transport = strings.TrimSpace(t)
			if err := c.check(); err != nil {
				fmt.Fprintln(stderr, "load:", err)
				return 2
			}
			cfgs = append(cfgs, c)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "load:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var rep Report
	status := 0
	if *profiles != "" {
		if err := os.MkdirAll(*profiles, 0o755); err != nil {
			fmt.Fprintln(stderr, "load:", err)
			return 1
		}
	}
	for i, c := range cfgs {
		prefix := ""
		if *profiles != "" {
			prefix = filepath.Join(*profiles, fmt.Sprintf("%d-%s", i+1, c.Transport))
		}
		res, err := run(ctx, exe, c, stderr, prefix)
		if err != nil {
			fmt.Fprintf(stderr, "load: %s: %v\n", c.Transport, err)
			return 1
		}
		rep.Results = append(rep.Results, res)
		if *jsonPath != "-" && !*md {
			writeTable(stdout, res)
			fmt.Fprintln(stdout)
		}
		if why := res.failed(); why != "" && !c.Idle {
			fmt.Fprintf(stderr, "load: FAILED: %s: %s\n", c.Transport, why)
			status = 1
		}
	}
	switch {
	case *jsonPath == "-":
		// The JSON alone goes to standard output.
	case *md:
		writeMarkdown(stdout, rep.Results)
	case len(rep.Results) > 1:
		writeSummary(stdout, rep.Results)
	}
	if *jsonPath != "" {
		if err := writeJSON(*jsonPath, stdout, &rep); err != nil {
			fmt.Fprintln(stderr, "load:", err)
			return 1
		}
	}
	return status
}

// Report is the results of a command, in the order they were measured.
type Report struct {
	Results []*Result `json:"results"`
}

// writeSummary writes one line per result, then, for each transport run
// more than once, the medians of its results.
func writeSummary(w io.Writer, rs []*Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "transport\tdelivered\tlost\tdup\tp50\tp99\tserver CPU/1k\tgenerator busy\tmem/conn\tcuts\tresumes\ton schedule\t")
	line := func(name string, r *Result) {
		fmt.Fprintf(tw, "%s\t%.2f %%\t%d\t%d\t%.1f ms\t%.1f ms\t%.2f ms\t%.0f %%\t%.1f KiB\t%d\t%d\t%s\t\n",
			name, r.DeliveredPct, r.Lost, r.Duplicated, r.P50, r.P99, r.CPUPer1000, r.GenBusy, r.MemPerConn/1024,
			r.Cuts, r.Resumes, yesNo(r.OnSchedule))
	}
	by := make(map[string][]*Result)
	var order []string
	for _, r := range rs {
		line(r.Config.Transport, r)
		t := r.Config.Transport
		if by[t] == nil {
			order = append(order, t)
		}
		by[t] = append(by[t], r)
	}
	for _, t := range order {
		if len(by[t]) > 1 {
			line(fmt.Sprintf("%s median of %d", t, len(by[t])), median(by[t]))
		}
	}
	_ = tw.Flush()
}

// median returns a Result whose every figure is the median of rs's.
func median(rs []*Result) *Result {
	m := *rs[0]
	med := func(f func(*Result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	m.DeliveredPct = med(func(r *Result) float64 { return r.DeliveredPct })
	m.Lost = int64(med(func(r *Result) float64 { return float64(r.Lost) }))
	m.Duplicated = int64(med(func(r *Result) float64 { return float64(r.Duplicated) }))
	m.P50 = med(func(r *Result) float64 { return r.P50 })
	m.P99 = med(func(r *Result) float64 { return r.P99 })
	m.CPUPer1000 = med(func(r *Result) float64 { return r.CPUPer1000 })
	m.GenBusy = med(func(r *Result) float64 { return r.GenBusy })
	m.MemPerConn = med(func(r *Result) float64 { return r.MemPerConn })
	m.Cuts = int64(med(func(r *Result) float64 { return float64(r.Cuts) }))
	m.Resumes = int64(med(func(r *Result) float64 { return float64(r.Resumes) }))
	on := 0
	for _, r := range rs {
		if r.OnSchedule {
			on++
		}
	}
	m.OnSchedule = 2*on > len(rs)
	return &m
}

// writeTable writes a result as an aligned two-column table.
func writeTable(w io.Writer, r *Result) {
	c := r.Config
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, v ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, v...)...) }
	if c.Idle {
		row("run", "%s, %d idle connections", c.Transport, c.Subs)
	} else {
		row("run", "%s, %d subscribers × %g msg/s of %d B, %s after %s warm-up", c.Transport, c.Subs, c.Rate, c.Size, c.Duration, c.Warmup)
	}
	row("machine", "%s; %s", r.Machine, r.Pinning)
	row("load average", "%s before, %s after", r.Load, r.LoadEnd)
	if !c.Idle {
		row("delivered", "%d / %d (%.2f %%)", r.Delivered, r.Expected, r.DeliveredPct)
		row("lost, duplicated", "%d, %d", r.Lost, r.Duplicated)
		row("latency p50, p99", "%.1f ms, %.1f ms", r.P50, r.P99)
		row("server CPU / 1,000 deliveries", "%.2f ms", r.CPUPer1000)
		row("generator CPU / 1,000 deliveries", "%.2f ms (busy %.0f %% of a CPU)", r.GenPer1000, r.GenBusy)
	}
	row("server memory / connection", "%.1f KiB heap+stack, %.1f KiB RSS", r.MemPerConn/1024, r.RSSPerConn/1024)
	row("server goroutines / connection", "%.2f", r.GorPerConn)
	row("cuts, resumes", "%d, %d (%d connections or held polls opened)", r.Cuts, r.Resumes, r.Opened)
	if c.Kills > 0 {
		row("connections killed on purpose", "%d of %d asked", r.Killed, c.Kills)
	}
	if len(r.ClosedBy) > 0 {
		var by []string
		for _, why := range slices.Sorted(maps.Keys(r.ClosedBy)) {
			by = append(by, fmt.Sprintf("%s %d", why, r.ClosedBy[why]))
		}
		row("server closes by reason", "%s", strings.Join(by, ", "))
	}
	if !c.Idle {
		row("publisher on schedule", "%s (lag max %.1f ms, at the end %.1f ms)", yesNo(r.OnSchedule), r.MaxLag, r.EndLag)
	}
	for _, e := range r.Errors {
		row("error", "%s", e)
	}
	_ = tw.Flush()
}

// writeMarkdown writes results as rows of a Markdown table.
func writeMarkdown(w io.Writer, rs []*Result) {
	fmt.Fprintln(w, "| transport | subs × msg/s | delivered | lost | dup | p50 | p99 | CPU / 1k deliveries | heap+stack / conn | RSS / conn | goroutines / conn | cuts | resumes | publisher on schedule (max lag) | load avg |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
	for _, r := range rs {
		c := r.Config
		if c.Idle {
			fmt.Fprintf(w, "| %s | %d idle | | | | | | | %.1f KiB | %.1f KiB | %.2f | %d | %d | | %s |\n",
				c.Transport, c.Subs, r.MemPerConn/1024, r.RSSPerConn/1024, r.GorPerConn, r.Cuts, r.Resumes, r.Load)
			continue
		}
		fmt.Fprintf(w, "| %s | %d × %g | %.2f %% | %d | %d | %.1f ms | %.1f ms | %.2f ms | %.1f KiB | %.1f KiB | %.2f | %d | %d | %s (%.0f ms) | %s |\n",
			c.Transport, c.Subs, c.Rate, r.DeliveredPct, r.Lost, r.Duplicated, r.P50, r.P99, r.CPUPer1000,
			r.MemPerConn/1024, r.RSSPerConn/1024, r.GorPerConn, r.Cuts, r.Resumes, yesNo(r.OnSchedule), r.MaxLag, r.Load)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// writeJSON writes r to path, or to stdout when path is "-".
func writeJSON(path string, stdout io.Writer, r *Report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = stdout.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
