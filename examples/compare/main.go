// Command compare runs one workload over pushpull's five patterns — short
// polling, long polling, Server-Sent Events, WebSockets and webhooks — on
// loopback, with the library's own handlers and clients, and measures what
// each costs:
//
//   - delivery latency, p50, p95, p99 and max: from the publisher's clock
//     just before Publish (carried in the message) to the consumer's on
//     receipt;
//   - HTTP requests and bytes on the wire per delivered message, counted at
//     the listener that accepts the pattern's connections;
//   - the server's memory (heap and stacks) and goroutines per client;
//   - the server's CPU time per 1,000 deliveries;
//   - lost and duplicated messages, which must be 0: the run ends with exit
//     status 1 otherwise.
//
// Each pattern runs with a fresh server in a child process (the same
// program, started again), so its CPU and memory figures are the server's
// alone; the clients run in this process. A client is one subscriber of the
// topic with a connection of its own; for webhooks it is one endpoint of a
// Dispatcher, posting to a Receiver of its own. Every handler and client keeps
// its package's defaults, except the poll interval (-poll), the SSE
// reconnection time if -sse-retry is set, and the webhook retry schedule
// (50 ms, then up to 5 s, where the default starts at 5 s, so a cut costs
// about what a reconnect costs the others).
//
// With -disconnects N, the connections of every client are cut N times,
// evenly over the run (at the server's listener; for webhooks at the
// receivers'): each client resumes from its cursor, and the counts of lost
// and duplicated messages stay 0.
//
// Run it from the repository root:
//
//	go run ./examples/compare
//	go run ./examples/compare -clients 500 -rate 50 -size 1024 -duration 20s -disconnects 2 -json out.json -svg out.svg
//
// A progress line goes to standard error, the table to standard output.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pushpull/pushpull/examples/internal/measure"
)

func main() {
	measure.ServeIfChild(childEnv, serveChild)
	os.Exit(cli(os.Args[1:]))
}

// cli runs the command with args and returns its exit status.
func cli(args []string) int {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	cfg := defaultConfig()
	pats := fs.String("patterns", strings.Join(cfg.Patterns, ","), "patterns to run, comma-separated: "+strings.Join(patterns, ","))
	fs.IntVar(&cfg.Clients, "clients", cfg.Clients, "subscribers of the topic, each with its own connection")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "messages published per second")
	fs.IntVar(&cfg.Size, "size", cfg.Size, "bytes of data per message")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long each pattern publishes")
	fs.DurationVar(&cfg.PollInterval, "poll", cfg.PollInterval, "short polling's interval")
	fs.DurationVar(&cfg.SSERetry, "sse-retry", cfg.SSERetry, "the SSE handler's reconnection time (0: the package default, 3s)")
	fs.IntVar(&cfg.Disconnects, "disconnects", cfg.Disconnects, "times every client's connection is cut during a run")
	fs.DurationVar(&cfg.Drain, "drain", cfg.Drain, "longest wait for the last deliveries after publishing")
	jsonPath := fs.String("json", "", "write the report as JSON to this file")
	svgPath := fs.String("svg", "", "write a bar chart as SVG to this file")
	md := fs.Bool("markdown", false, "print the table as Markdown")
	if status, ok := measure.ParseFlags(fs, args); !ok {
		return status
	}
	cfg.Patterns = strings.Split(*pats, ",")
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := compare(ctx, exe, cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		return 1
	}
	if *md {
		writeMarkdown(os.Stdout, rep)
	} else if err := writeTable(os.Stdout, rep); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		return 1
	}
	if *jsonPath != "" {
		if err := writeJSON(*jsonPath, rep); err != nil {
			fmt.Fprintln(os.Stderr, "compare:", err)
			return 1
		}
	}
	if *svgPath != "" {
		f, err := os.Create(*svgPath)
		if err == nil {
			err = writeSVG(f, rep)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "compare:", err)
			return 1
		}
	}
	status := 0
	for _, r := range rep.Results {
		if why := r.failed(); why != "" {
			fmt.Fprintf(os.Stderr, "compare: FAILED: %s: %s\n", r.Pattern, why)
			status = 1
		}
	}
	return status
}

// defaultConfig is the workload of a plain run: about a minute on two cores.
func defaultConfig() Config {
	return Config{
		Patterns:     patterns,
		Clients:      100,
		Rate:         20,
		Size:         256,
		Duration:     10 * time.Second,
		PollInterval: time.Second,
		Drain:        15 * time.Second,
	}
}
