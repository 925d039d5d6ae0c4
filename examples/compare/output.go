package main

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
)

// Machine says where a report was measured.
type Machine struct {
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go"`
}

func machine() Machine {
	return Machine{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
}

// writeTable writes the results as an aligned text table.
func writeTable(w io.Writer, rep *Report) error {
	c := rep.Config
	fmt.Fprintf(w, "%d clients, %g msg/s of %d B for %s, poll interval %s, %d forced disconnects; %d CPUs, %s\n\n",
		c.Clients, c.Rate, c.Size, c.Duration, c.PollInterval, c.Disconnects, rep.Machine.CPUs, rep.Machine.GoVersion)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "pattern\tp50\tp95\tp99\tmax\treq/msg\tB/msg\tmem/client\tgoroutines/client\tCPU/1k msgs\tlost\tdup\t")
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.3f\t%.0f\t%s\t%.2f\t%.1f ms\t%d\t%d\t\n",
			r.Pattern, ms(r.Latency.P50), ms(r.Latency.P95), ms(r.Latency.P99), ms(r.Latency.Max),
			r.Requests, r.Bytes, kib(r.MemClient), r.GorClient, r.CPUPer1000, r.Lost, r.Duplicated)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, r := range rep.Results {
		if r.NotMod > 0 {
			fmt.Fprintf(w, "%s: %d of %d requests answered 304 Not Modified\n", r.Pattern, r.NotMod, r.Reqs)
		}
		if r.Cuts > 0 {
			fmt.Fprintf(w, "%s: %d forced disconnects closed %d connections; %d connections accepted during the run\n",
				r.Pattern, r.Cuts, r.CutConns, r.Conns)
		}
	}
	return nil
}

// writeMarkdown writes the results as a Markdown table, as the README shows
// them.
func writeMarkdown(w io.Writer, rep *Report) {
	fmt.Fprintln(w, "| pattern | latency p50 | p95 | p99 | max | requests / msg | bytes / msg | server memory / client | goroutines / client | server CPU / 1,000 msgs | lost | dup |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rep.Results {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %.3f | %.0f | %s | %.2f | %.1f ms | %d | %d |\n",
			r.Pattern, ms(r.Latency.P50), ms(r.Latency.P95), ms(r.Latency.P99), ms(r.Latency.Max),
			r.Requests, r.Bytes, kib(r.MemClient), r.GorClient, r.CPUPer1000, r.Lost, r.Duplicated)
	}
}

// ms formats milliseconds with about three significant digits.
func ms(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.2f s", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.2f ms", v)
}

func kib(b float64) string { return fmt.Sprintf("%.1f KiB", b/1024) }

func writeJSON(path string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// panel is one bar chart of the SVG: a value per pattern.
type panel struct {
	title string
	log   bool // a logarithmic scale, for values spanning decades
	value func(Result) float64
	label func(float64) string
}

// writeSVG draws the results as small horizontal bar charts, one per
// measure, in plain SVG.
func writeSVG(w io.Writer, rep *Report) error {
	panels := []panel{
		{"latency p50 (log scale)", true, func(r Result) float64 { return r.Latency.P50 }, ms},
		{"latency p99 (log scale)", true, func(r Result) float64 { return r.Latency.P99 }, ms},
		{"requests per message", false, func(r Result) float64 { return r.Requests }, func(v float64) string { return fmt.Sprintf("%.3f", v) }},
		{"bytes on the wire per message", false, func(r Result) float64 { return r.Bytes }, func(v float64) string { return fmt.Sprintf("%.0f B", v) }},
		{"server CPU per 1,000 messages", false, func(r Result) float64 { return r.CPUPer1000 }, func(v float64) string { return fmt.Sprintf("%.1f ms", v) }},
		{"server memory per client", false, func(r Result) float64 { return r.MemClient }, kib},
	}
	const (
		cols, pw, label, barW = 2, 430, 70, 280
		rowH, top, gap        = 22, 34, 24
	)
	ph := top + rowH*len(rep.Results) + gap
	rows := (len(panels) + cols - 1) / cols
	width, height := cols*pw+20, rows*ph+60
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="system-ui, sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#fff"/>`+"\n")
	c := rep.Config
	fmt.Fprintf(&b, `<text x="10" y="22" font-size="15" font-weight="600">%s</text>`+"\n",
		html.EscapeString(fmt.Sprintf("pushpull: five patterns, one workload — %d clients, %g msg/s of %d B, %s, poll every %s, %d cuts",
			c.Clients, c.Rate, c.Size, c.Duration, c.PollInterval, c.Disconnects)))
	colors := map[string]string{"poll": "#e07a5f", "longpoll": "#f2cc8f", "sse": "#81b29a", "ws": "#3d85c6", "webhook": "#9c6ade"}
	for k, p := range panels {
		x0, y0 := 10+(k%cols)*pw, 40+(k/cols)*ph
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="600">%s</text>`+"\n", x0, y0+16, html.EscapeString(p.title))
		hi, lo := 0.0, math.Inf(1)
		for _, r := range rep.Results {
			v := p.value(r)
			hi = max(hi, v)
			if v > 0 {
				lo = min(lo, v)
			}
		}
		scale := func(v float64) float64 {
			switch {
			case hi <= 0 || v <= 0:
				return 0
			case !p.log:
				return v / hi * barW
			}
			// From a decade below the smallest value to the largest.
			floor := math.Log10(lo) - 1
			return (math.Log10(v) - floor) / (math.Log10(hi) - floor) * barW
		}
		for i, r := range rep.Results {
			y := y0 + top + i*rowH - 8
			v := p.value(r)
			fill := colors[r.Pattern]
			if fill == "" {
				fill = "#888"
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", x0+label-6, y+13, html.EscapeString(r.Pattern))
			bw := scale(v)
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="16" fill="%s"/>`+"\n", x0+label, y, bw, fill)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d">%s</text>`+"\n", float64(x0+label)+bw+4, y+13, html.EscapeString(p.label(v)))
		}
	}
	var lost, dup int64
	for _, r := range rep.Results {
		lost, dup = lost+r.Lost, dup+r.Duplicated
	}
	fmt.Fprintf(&b, `<text x="10" y="%d" fill="#555">%s</text>`+"\n", height-12,
		html.EscapeString(fmt.Sprintf("%s/%s, %d CPUs, %s; server in a child process. Lost: %d, duplicated: %d.",
			rep.Machine.GOOS, rep.Machine.GOARCH, rep.Machine.CPUs, rep.Machine.GoVersion, lost, dup)))
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
