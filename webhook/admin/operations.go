package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/webhook"
)

// Defaults of the Handler's operation fields.
const (
	DefaultMaxOperations = 8
	DefaultOperationTTL  = time.Hour
)

// MaxFinishedOperations bounds the finished operations a Handler keeps
// to read per endpoint (the oldest go first).
const MaxFinishedOperations = 100

// The kinds of an Operation.
const (
	KindRecover = "recover" // POST /endpoints/{id}/recover
	KindReplay  = "replay"  // POST /endpoints/{id}/replay
)

// The states of an Operation.
const (
	OpRunning   = "running"   // delivering
	OpSucceeded = "succeeded" // every message delivered
	OpFailed    = "failed"    // stopped at Error; Delivered were delivered before it
	OpCanceled  = "canceled"  // stopped by DELETE or Handler.Close
)

// An Operation is a recovery or a replay running apart from the request
// that started it (Prefer: respond-async), as GET
// /endpoints/{id}/operations/{op} shows it.
type Operation struct {
	ID       string `json:"id"`       // "op_…"
	Endpoint string `json:"endpoint"` // the endpoint's ID
	Kind     string `json:"kind"`     // KindRecover or KindReplay
	State    string `json:"state"`    // OpRunning, OpSucceeded, OpFailed or OpCanceled
	// Delivered counts the messages delivered so far.
	Delivered int `json:"delivered"`
	// Since is a recovery's "since"; From and To are a replay's.
	Since time.Time `json:"since,omitzero"`
	From  string    `json:"from,omitempty"`
	To    string    `json:"to,omitempty"`
	// By is the subject of the identity that started it, when Auth
	// names one.
	By string `json:"by,omitempty"`
	// Started and Ended are when it started and ended.
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
	// Status and Error are, for a failed operation, the status and the
	// error answer the request would have had without Prefer:
	// respond-async (502 delivery_failed, 410 cursor_expired, …).
	Status int    `json:"status,omitempty"`
	Error  *Error `json:"error,omitempty"`
}

// OperationList is the answer of GET /endpoints/{id}/operations.
type OperationList struct {
	Operations []Operation `json:"operations"`
}

// operation is a running or finished Operation of a Handler.
type operation struct {
	mu     sync.Mutex
	op     Operation
	async  bool // Prefer: respond-async; else it runs within its request
	cancel func()
	done   chan struct{} // closed once it ended
}

func (o *operation) snapshot() Operation {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.op
}

// operations are a Handler's operations.
type operations struct {
	mu     sync.Mutex
	ctx    context.Context // ended by Close
	stop   context.CancelFunc
	closed bool
	byID   map[string]*operation
	order  []*operation // oldest first
	wg     sync.WaitGroup
}

// ops returns the Handler's operations, made on first use.
func (h *Handler) ops() *operations {
	h.opsOnce.Do(func() {
		ctx, stop := context.WithCancel(context.Background())
		h.opsState = &operations{ctx: ctx, stop: stop, byID: make(map[string]*operation)}
	})
	return h.opsState
}

func (h *Handler) maxOperations() int {
	if h.MaxOperations > 0 {
		return h.MaxOperations
	}
	return DefaultMaxOperations
}

func (h *Handler) operationTTL() time.Duration {
	if h.OperationTTL > 0 {
		return h.OperationTTL
	}
	return DefaultOperationTTL
}

// Close cancels the operations still running and waits until they have
// stopped; a later Prefer: respond-async request is answered 503. The
// requests served meanwhile are not affected. Call it when the server
// shuts down (after http.Server.Shutdown) if the API may start
// operations.
func (h *Handler) Close() error {
	ops := h.ops()
	ops.mu.Lock()
	ops.closed = true
	ops.mu.Unlock()
	ops.stop()
	ops.wg.Wait()
	return nil
}

// respondAsync reports whether r asks for an answer before the work is
// done (RFC 7240's Prefer: respond-async).
func respondAsync(r *http.Request) bool {
	for _, v := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			name, _, _ := strings.Cut(p, ";")
			if strings.EqualFold(strings.TrimSpace(name), "respond-async") {
				return true
			}
		}
	}
	return false
}

// runFunc is the work of an operation: a Recover or Replay of d.
type runFunc func(ctx context.Context, d *webhook.Dispatcher) (int, error)

// checkFunc checks, before an operation starts, what would make it fail
// at once, given the endpoint's topic.
type checkFunc func(ctx context.Context, d *webhook.Dispatcher, topic string) error

// operate serves a recover or replay: within the request, or, with
// Prefer: respond-async, as an operation answered 202 at once. Either way
// it is an operation of the endpoint, which runs one at a time.
func (h *Handler) operate(w http.ResponseWriter, r *http.Request, op Operation, run runFunc, check checkFunc, answer func(n int) any) error {
	d, err := h.dispatcher()
	if err != nil {
		return err
	}
	// What would fail at once is answered now, not as an operation.
	st, err := d.Status(op.Endpoint)
	if errors.Is(err, webhook.ErrUnknownEndpoint) {
		c, gerr := h.Store.GetEndpoint(r.Context(), op.Endpoint)
		if gerr != nil {
			return gerr
		}
		st.Topic, err = c.Topic, nil
	}
	if err != nil {
		return err
	}
	if check != nil {
		if err := check(r.Context(), d, st.Topic); err != nil {
			return operationError(err)
		}
	}
	if id := identity(r); id != nil {
		op.By = id.Subject
	}
	async := respondAsync(r)
	parent := context.WithoutCancel(r.Context())
	if !async {
		parent = r.Context() // a client that goes away stops it
	}
	o, ctx, err := h.register(op, async, parent)
	if err != nil {
		return err
	}
	if !async {
		n, err := h.finish(o, ctx, run, d)
		if err != nil {
			return operationError(err)
		}
		writeJSON(w, http.StatusOK, answer(n))
		return nil
	}
	go func() { _, _ = h.finish(o, ctx, run, d) }()
	snap := o.snapshot()
	w.Header().Set("Location", "operations/"+snap.ID)
	w.Header().Set("Preference-Applied", "respond-async")
	writeJSON(w, http.StatusAccepted, snap)
	return nil
}

// register records op as running, unless another operation of its
// endpoint runs (409) or, for an async one, MaxOperations async ones run
// (429), and returns it with the context it runs in: parent's values,
// ended by DELETE, by Close, and for a run within a request by the
// request's end. The caller must call finish.
func (h *Handler) register(op Operation, async bool, parent context.Context) (*operation, context.Context, error) {
	ops := h.ops()
	ops.mu.Lock()
	defer ops.mu.Unlock()
	if ops.closed {
		return nil, nil, errorf(http.StatusServiceUnavailable, codeUnavailable, "the API is shutting down")
	}
	h.pruneLocked(ops)
	running := 0
	for _, o := range ops.order {
		if !o.running() {
			continue
		}
		if o.op.Endpoint == op.Endpoint {
			// Two at once would deliver the endpoint's messages twice,
			// out of order.
			return nil, nil, &Error{Status: http.StatusConflict, Code: codeConflict,
				Message: "operation " + o.op.ID + " of this endpoint is running: wait for it to end, or cancel it",
				header:  http.Header{"Location": {"operations/" + o.op.ID}}}
		}
		if o.async {
			running++
		}
	}
	if async && running >= h.maxOperations() {
		return nil, nil, &Error{Status: http.StatusTooManyRequests, Code: codeTooMany,
			Message: "too many operations running: wait for one to end", header: http.Header{"Retry-After": {"10"}}}
	}
	op.ID = newOperationID()
	op.State = OpRunning
	op.Started = h.now()
	ctx, cancel := context.WithCancel(parent)
	stop := context.AfterFunc(ops.ctx, cancel) // Close
	o := &operation{op: op, async: async, done: make(chan struct{}),
		cancel: func() { stop(); cancel() }}
	ops.byID[op.ID] = o
	ops.order = append(ops.order, o)
	ops.wg.Add(1)
	ctx = webhook.WithProgress(ctx, func(n int) {
		o.mu.Lock()
		o.op.Delivered = n
		o.mu.Unlock()
	})
	return o, ctx, nil
}

// finish runs o's work in ctx and records how it ended.
func (h *Handler) finish(o *operation, ctx context.Context, run runFunc, d *webhook.Dispatcher) (int, error) {
	ops := h.ops()
	defer ops.wg.Done()
	defer close(o.done)
	defer o.cancel()
	n, err := run(ctx, d)
	var e *Error
	if err != nil {
		e = operationError(err)
	}
	o.mu.Lock()
	o.op.Delivered = n
	o.op.Ended = h.now()
	switch {
	case err == nil:
		o.op.State = OpSucceeded
	case e.Code == codeInternal && ctx.Err() != nil:
		// Not a failure of a delivery or of the history: stopped.
		o.op.State = OpCanceled
	default:
		o.op.State, o.op.Status, o.op.Error = OpFailed, e.Status, e
	}
	failed := o.op.State == OpFailed && e.Code == codeInternal
	op := o.op
	o.mu.Unlock()
	if failed && h.Logger != nil {
		h.Logger.Error("webhook admin: operation failed", "operation", op.ID, "endpoint", op.Endpoint, "error", err)
	}
	return n, err
}

func (o *operation) running() bool {
	select {
	case <-o.done:
		return false
	default:
		return true
	}
}

// pruneLocked forgets finished operations older than OperationTTL, and
// each endpoint's oldest finished ones beyond MaxFinishedOperations.
// ops.mu is held.
func (h *Handler) pruneLocked(ops *operations) {
	cutoff := h.now().Add(-h.operationTTL())
	finished := make(map[string]int) // per endpoint
	for _, o := range ops.order {
		if !o.running() {
			finished[o.op.Endpoint]++
		}
	}
	ops.order = slices.DeleteFunc(ops.order, func(o *operation) bool {
		if o.running() {
			return false
		}
		o.mu.Lock()
		ended := o.op.Ended
		o.mu.Unlock()
		if ended.Before(cutoff) || finished[o.op.Endpoint] > MaxFinishedOperations {
			finished[o.op.Endpoint]--
			delete(ops.byID, o.op.ID)
			return true
		}
		return false
	})
}

// lookup returns the operation id of endpoint, or a 404.
func (h *Handler) lookup(endpoint, id string) (*operation, error) {
	ops := h.ops()
	ops.mu.Lock()
	defer ops.mu.Unlock()
	h.pruneLocked(ops)
	if o, ok := ops.byID[id]; ok && o.op.Endpoint == endpoint {
		return o, nil
	}
	return nil, errorf(http.StatusNotFound, codeNotFound, "no such operation")
}

// listOperations answers the operations of an endpoint, or of every
// endpoint on /operations, newest first, those in one state with ?state=.
func (h *Handler) listOperations(w http.ResponseWriter, r *http.Request, p params) error {
	if _, err := parseQuery(r, "state"); err != nil {
		return err
	}
	state := r.URL.Query().Get("state")
	switch state {
	case "", OpRunning, OpSucceeded, OpFailed, OpCanceled:
	default:
		return errorf(http.StatusBadRequest, codeInvalid, "state: %q is not running, succeeded, failed or canceled", state[:min(len(state), 32)])
	}
	ops := h.ops()
	ops.mu.Lock()
	h.pruneLocked(ops)
	var list []*operation
	for _, o := range ops.order {
		if p.endpoint == "" || o.op.Endpoint == p.endpoint {
			list = append(list, o)
		}
	}
	ops.mu.Unlock()
	out := OperationList{Operations: make([]Operation, 0, len(list))}
	for i := len(list) - 1; i >= 0; i-- { // newest first
		if op := list[i].snapshot(); state == "" || op.State == state {
			out.Operations = append(out.Operations, op)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) getOperation(w http.ResponseWriter, r *http.Request, p params) error {
	if _, err := parseQuery(r); err != nil {
		return err
	}
	o, err := h.lookup(p.endpoint, p.operation)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, o.snapshot())
	return nil
}

// cancelOperation stops a running operation and answers it once it has
// stopped (or the request's context ends: 202 with it still running). A
// finished operation is answered as it is.
func (h *Handler) cancelOperation(w http.ResponseWriter, r *http.Request, p params) error {
	o, err := h.lookup(p.endpoint, p.operation)
	if err != nil {
		return err
	}
	o.cancel()
	select {
	case <-o.done:
		writeJSON(w, http.StatusOK, o.snapshot())
	case <-r.Context().Done():
		writeJSON(w, http.StatusAccepted, o.snapshot())
	}
	return nil
}

// operationError maps an error of Recover or Replay to the API's answer:
// a delivery that failed is 502 delivery_failed, a replay from a position
// the bus no longer has 410 cursor_expired; the rest as toError.
func operationError(err error) *Error {
	var status *webhook.StatusError
	switch {
	case errors.Is(err, bus.ErrCursorExpired):
		return &Error{Status: http.StatusGone, Code: codeCursorExpired, Message: "from is no longer in the bus history", err: err}
	case errors.Is(err, webhook.ErrExhausted), errors.Is(err, webhook.ErrGone),
		errors.Is(err, webhook.ErrForbiddenAddress), errors.As(err, &status):
		return &Error{Status: http.StatusBadGateway, Code: codeDeliveryFailed, Message: err.Error(), err: err}
	}
	return toError(err)
}

func newOperationID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "op_" + hex.EncodeToString(b[:])
}
