package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/longpoll"
)

//go:embed index.html
var page []byte

// Progress is the data of a job's messages: "job.progress" while it runs,
// then one "job.done" with Report set.
type Progress struct {
	Percent int    `json:"percent"`
	Message string `json:"message"`
	Report  string `json:"report,omitempty"`
}

// steps are what a report job does, in order.
var steps = []string{
	"Loading orders",
	"Matching refunds",
	"Totalling by region",
	"Converting currencies",
	"Computing month-on-month change",
	"Writing the CSV",
}

// app runs report jobs and serves the page, the jobs, their progress and
// their reports.
type app struct {
	http.Handler
	b    bus.Broker
	lp   *longpoll.Handler
	step time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	n       int
	running int
	reports map[string][]byte // by job id, once done
}

// maxRunning bounds the jobs running at once; past it POST /jobs answers
// 503.
const maxRunning = 20

// newApp returns the app; each step of a job takes step. Close stops the
// jobs still running.
func newApp(b bus.Broker, step time.Duration) *app {
	a := &app{b: b, step: step, reports: map[string][]byte{}}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.lp = &longpoll.Handler{Broker: b, Topic: func(r *http.Request) (string, error) {
		id := r.URL.Query().Get("job")
		if !validID(id) {
			return "", fmt.Errorf("%w: no such job %q", bus.ErrInvalidTopic, id)
		}
		return "jobs/" + id, nil
	}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /jobs", a.start)
	mux.Handle("GET /longpoll", a.lp)
	mux.HandleFunc("GET /reports/{id}", a.report)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	a.Handler = mux
	return a
}

// validID reports whether id looks like a job id ("r" and digits).
func validID(id string) bool {
	return len(id) > 1 && len(id) < 20 && id[0] == 'r' && strings.Trim(id[1:], "0123456789") == ""
}

// Close stops the running jobs and waits for them.
func (a *app) Close() {
	a.cancel()
	a.wg.Wait()
}

// start starts a job and answers {"id": …}; the page then long-polls
// /longpoll?job=<id>&after=0.
func (a *app) start(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	if a.running >= maxRunning {
		a.mu.Unlock()
		w.Header().Set("Retry-After", "5")
		http.Error(w, "too many jobs running; try again shortly", http.StatusServiceUnavailable)
		return
	}
	a.n++
	a.running++
	id := fmt.Sprintf("r%d", a.n)
	a.mu.Unlock()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.run(a.ctx, id)
		a.mu.Lock()
		a.running--
		a.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]string{"id": id})
}

// run does job id's steps, publishing its progress after each.
func (a *app) run(ctx context.Context, id string) {
	topic := "jobs/" + id
	publish := func(typ string, p Progress) bool {
		data, _ := json.Marshal(p)
		_, err := a.b.Publish(ctx, topic, bus.Message{Type: typ, Data: data})
		return err == nil
	}
	if !publish("job.progress", Progress{Percent: 0, Message: "Queued"}) {
		return
	}
	t := time.NewTimer(a.step)
	defer t.Stop()
	for i, s := range steps {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			t.Reset(a.step)
		}
		if !publish("job.progress", Progress{Percent: (i + 1) * 100 / (len(steps) + 1), Message: s}) {
			return
		}
	}
	a.mu.Lock()
	a.reports[id] = makeReport(id)
	a.mu.Unlock()
	publish("job.done", Progress{Percent: 100, Message: "Done", Report: "/reports/" + id})
}

// makeReport returns the CSV of job id: made-up sales by region.
func makeReport(id string) []byte {
	rnd := rand.New(rand.NewPCG(uint64(len(id)), uint64(id[len(id)-1])))
	var sb strings.Builder
	sb.WriteString("region,orders,revenue_eur,change_pct\n")
	for _, region := range []string{"North", "South", "East", "West"} {
		fmt.Fprintf(&sb, "%s,%d,%.2f,%+.1f\n", region, 100+rnd.IntN(900), 1000+rnd.Float64()*90000, rnd.Float64()*20-10)
	}
	return []byte(sb.String())
}

// report serves a finished report.
func (a *app) report(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	a.mu.Lock()
	body, ok := a.reports[id]
	a.mu.Unlock()
	if !ok {
		http.Error(w, "no such report", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `inline; filename="report-`+id+`.csv"`)
	_, _ = w.Write(body)
}
