package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// DefaultTimeout bounds each check of a Handler with a zero Timeout.
const DefaultTimeout = 2 * time.Second

// The values of Report.Status.
const (
	StatusReady    = "ready"
	StatusNotReady = "not ready"
)

// A Check is one thing the readiness of a process depends on.
type Check struct {
	// Name names the check in the report, e.g. "bus" or "webhooks".
	Name string
	// Run reports whether the thing is ready: a nil error when it is,
	// the reason when it is not. detail, when not nil, is shown with
	// the check and must encode as JSON. Run must return soon after ctx
	// is done.
	Run func(ctx context.Context) (detail any, err error)
}

// A Report is the outcome of a Handler's checks, and its JSON body.
type Report struct {
	// Status is StatusReady when every check passed, else
	// StatusNotReady.
	Status string `json:"status"`
	// Checks are the outcomes of the checks, in the Handler's order.
	Checks []Result `json:"checks"`
}

// Ready reports whether every check passed.
func (r Report) Ready() bool { return r.Status == StatusReady }

// A Result is the outcome of one Check.
type Result struct {
	Name   string `json:"name"`
	Ready  bool   `json:"ready"`
	Error  string `json:"error,omitempty"`  // why it is not ready
	Detail any    `json:"detail,omitempty"` // what Check.Run returned
}

// Handler is a readiness endpoint: it runs its Checks concurrently, each
// within Timeout, and answers GET and HEAD with 200 when all passed and
// 503 Service Unavailable when one did not, with the Report as JSON. Other
// methods get 405. A check still running at its Timeout fails with
// "timeout" (its goroutine is left to finish).
//
// The zero Handler, with no check, is always ready. A Handler is safe for
// concurrent use; its fields must not change while it serves.
type Handler struct {
	// Checks are what readiness depends on.
	Checks []Check
	// Timeout bounds each check. Zero means DefaultTimeout.
	Timeout time.Duration
}

var _ http.Handler = (*Handler)(nil)

// errTimeout is the error of a check that did not return in time.
var errTimeout = errors.New("timeout")

// Run runs the checks and returns the report.
func (h *Handler) Run(ctx context.Context) Report {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	type outcome struct {
		detail any
		err    error
	}
	chans := make([]chan outcome, len(h.Checks))
	for i, c := range h.Checks {
		ch := make(chan outcome, 1) // a late check does not block
		chans[i] = ch
		go func() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			d, err := c.Run(cctx)
			ch <- outcome{d, err}
		}()
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	r := Report{Status: StatusReady, Checks: make([]Result, len(h.Checks))}
	late := false // the timeout passed: take what is there
	for i, c := range h.Checks {
		var o outcome
		if !late {
			select {
			case o = <-chans[i]:
			case <-timer.C:
				late = true
			}
		}
		if late {
			select {
			case o = <-chans[i]:
			default:
				o.err = errTimeout
			}
		}
		res := Result{Name: c.Name, Ready: o.err == nil, Detail: o.detail}
		if o.err != nil {
			res.Error = o.err.Error()
			r.Status = StatusNotReady
		}
		r.Checks[i] = res
	}
	return r
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "health: GET or HEAD only", http.StatusMethodNotAllowed)
		return
	}
	r := h.Run(req.Context())
	body, err := json.Marshal(r)
	if err != nil { // a detail that does not encode
		http.Error(w, "health: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	code := http.StatusOK
	if !r.Ready() {
		code = http.StatusServiceUnavailable
	}
	w.WriteHeader(code)
	if req.Method == http.MethodGet {
		_, _ = w.Write(append(body, '\n'))
	}
}

// Broker returns a check named name of a broker's connectivity: its Ping
// when it is a bus.Pinger (bus.Memory, natsbus, pgbus and redisbus are),
// and always ready otherwise, with the detail "no ping".
func Broker(name string, b bus.Broker) Check {
	return Check{Name: name, Run: func(ctx context.Context) (any, error) {
		p, ok := b.(bus.Pinger)
		if !ok {
			return "no ping", nil
		}
		return nil, p.Ping(ctx)
	}}
}
