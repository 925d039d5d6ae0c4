package longpoll

import (
	"context"
	"errors"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire"
)

var (
	errGone         = errors.New("longpoll: client gone")
	errOverCapacity = errors.New("longpoll: too many held requests")
)

// state is a request on its way: what it asked for and, once known, its
// answer.
type state struct {
	req    pollwire.Request
	wait   time.Duration
	stop   <-chan struct{}
	cursor string // where the answer leaves the client
	hold   bool   // nothing to answer yet: wait

	// Set while held.
	wake    <-chan struct{}
	timeout <-chan time.Time
	gone    <-chan struct{}

	msgs []bus.Message // the answer's messages, or
	raw  []byte        // one message encoded by the hub
	err  error
}

// first computes the cursor of st and reads what follows it.
func (h *Handler) first(ctx context.Context, st *state) {
	st.cursor = st.req.After
	if st.cursor == "" || st.cursor == bus.Oldest {
		// Top before Read: a message published in between is then either
		// read or after the cursor, never skipped.
		top, err := h.Broker.Top(ctx, st.req.Topic)
		if err != nil {
			st.err = err
			return
		}
		if st.cursor == bus.Oldest && st.req.Limit > 0 {
			if h.read(ctx, st, bus.Oldest) {
				return
			}
		}
		st.cursor = top
	}
	if st.req.Limit == 0 || h.read(ctx, st, st.cursor) {
		return
	}
	st.hold = st.wait > 0
}

// read reads after cursor into st and reports whether st has its answer
// (messages or an error).
func (h *Handler) read(ctx context.Context, st *state, cursor string) bool {
	msgs, err := h.Broker.Read(ctx, st.req.Topic, cursor, st.req.Limit)
	switch {
	case err != nil:
		st.err = err
		if ctx.Err() != nil {
			st.err = errGone
		}
		return true
	case len(msgs) > 0:
		st.msgs, st.cursor = msgs, msgs[len(msgs)-1].ID
		return true
	}
	return false
}

// hold waits for the first message after st.cursor, the timeout, Shutdown
// or the client's departure. It keeps its frame and wait's small: the
// goroutine blocks in them, and a small stack in use lets the runtime shrink
// the goroutine's stack to its minimum while it waits.
func (h *Handler) hold(ctx context.Context, st *state) {
	if h.held.Add(1) > h.maxHeld() {
		h.held.Add(-1)
		st.err = errOverCapacity
		return
	}
	timer := time.NewTimer(st.wait)
	st.timeout, st.gone = timer.C, ctx.Done()
	for !h.round(ctx, st) {
	}
	timer.Stop()
	h.held.Add(-1)
}

// round registers with the hub, reads, and waits once. It reports whether
// the request has its answer.
func (h *Handler) round(ctx context.Context, st *state) bool {
	hb, err := h.acquire(ctx, st)
	if err != nil {
		st.err = err
		return true
	}
	done := h.check(ctx, st) || st.block() || h.woken(ctx, st, hb)
	h.release(hb)
	return done
}

// block waits until the hub wakes the request (it returns false) or the
// request ends (true).
func (st *state) block() bool {
	select {
	case <-st.wake:
		return false
	case <-st.timeout:
	case <-st.stop:
	case <-st.gone:
		st.err = errGone
	}
	return true
}

// check reads once the request is registered with the hub, so a message
// published since the first read is not missed.
//
//go:noinline
func (h *Handler) check(ctx context.Context, st *state) bool {
	return h.read(ctx, st, st.cursor)
}

// woken answers with the hub's last message when it directly follows the
// cursor, already encoded, and reads the history otherwise.
//
//go:noinline
func (h *Handler) woken(ctx context.Context, st *state, hb *hub) bool {
	if id, raw, ok := hb.after(st.cursor); ok {
		st.raw, st.cursor = raw, id
		return true
	}
	return h.read(ctx, st, st.cursor)
}
