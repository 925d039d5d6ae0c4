package longpoll

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire"
	"github.com/pushpull/pushpull/metrics"
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
	w       *waiter
	hub     *hub
	stopCtx func() bool
	since   time.Time // when the hold started, with Metrics only

	raws  [][]byte // the answer's messages, encoded, or
	body  []byte   // its body, built by the hub and shared: read only
	nmsgs int      // the number of messages in body
	err   error
}

// first computes the cursor of st and reads what follows it.
func (h *Handler) first(ctx context.Context, st *state) {
	st.cursor = st.req.After
	switch st.cursor {
	case "", bus.Oldest, Latest:
		// Top before Read: a message published in between is then either
		// read or after the cursor, never skipped.
		top, err := h.Broker.Top(ctx, st.req.Topic)
		if err != nil {
			st.err = err
			return
		}
		if st.req.Limit > 0 {
			switch st.cursor {
			case bus.Oldest:
				if h.read(ctx, st, bus.Oldest, st.req.Limit) {
					return
				}
			case Latest:
				if h.read(ctx, st, "", 1) { // Read's current state: the newest message
					return
				}
			}
		}
		st.cursor = top
	}
	if st.req.Limit == 0 || h.fromHub(st, h.hubs.Get(st.req.Topic)) || h.read(ctx, st, st.cursor, st.req.Limit) {
		return
	}
	st.hold = st.wait > 0
}

// read reads up to limit messages after cursor into st and reports whether
// st has its answer (messages or an error).
func (h *Handler) read(ctx context.Context, st *state, cursor string, limit int) bool {
	msgs, err := h.Broker.Read(ctx, st.req.Topic, cursor, limit)
	switch {
	case err != nil:
		st.err = err
		if ctx.Err() != nil {
			st.err = errGone
		}
		return true
	case len(msgs) > 0:
		raws := h.kept.encode(st.req.Topic, msgs)
		n := fit(len(raws), func(i int) int { return len(raws[i]) })
		st.raws, st.cursor = raws[:n], msgs[n-1].ID
		return true
	}
	return false
}

// startHold makes st a waiter, unless MaxHeld requests are held already.
// conn is the connection of a request held outside net/http, or nil.
func (h *Handler) startHold(ctx context.Context, st *state, conn net.Conn) bool {
	if h.held.Add(1) > h.maxHeld() {
		h.held.Add(-1)
		st.err = errOverCapacity
		return false
	}
	w := &waiter{ch: make(chan struct{}, 1), deadline: time.Now().Add(st.wait), index: -1, held: conn != nil, conn: conn}
	w.wg.Add(1)
	st.w = w
	st.stopCtx = context.AfterFunc(ctx, func() {
		defer w.wg.Done()
		w.notify()
	})
	if m := h.Metrics; m != nil {
		st.since = time.Now()
		m.Record(metrics.Event{Kind: metrics.ConnOpened, Transport: transport, Topic: st.req.Topic})
		m.Record(metrics.Event{Kind: metrics.QueueDepth, Transport: transport, N: 1})
	}
	return true
}

// holdEnded reports the end of st's hold: why, and how long it lasted.
func (h *Handler) holdEnded(st *state) {
	m := h.Metrics
	if m == nil {
		return
	}
	why := metrics.ReasonDone
	switch {
	case st.err == errGone:
		why = metrics.ReasonClosed
	case errors.Is(st.err, bus.ErrCursorExpired):
		why = metrics.ReasonExpired
	case st.err != nil:
		why = metrics.ReasonError
	case h.stopped(st):
		why = metrics.ReasonShutdown
	}
	m.Record(metrics.Event{Kind: metrics.QueueDepth, Transport: transport, N: -1})
	m.Record(metrics.Event{Kind: metrics.ConnClosed, Transport: transport, Topic: st.req.Topic, Outcome: why, Duration: time.Since(st.since)})
}

// endHold releases what startHold and next took.
func (h *Handler) endHold(st *state) {
	if st.hub != nil {
		st.hub.remove(st.w)
		h.release(st.hub)
		st.hub = nil
	}
	if st.stopCtx() {
		st.w.wg.Done()
	}
	st.w.wg.Wait() // the AfterFunc, if it started, has returned
	h.held.Add(-1)
	h.holdEnded(st)
}

// next registers the waiter with the hub of its topic when needed and
// looks for the answer; it reports whether to wait (again).
func (h *Handler) next(ctx context.Context, st *state) bool {
	if ctx.Err() != nil {
		st.err = errGone
		return false
	}
	w := st.w
	if hb := st.hub; hb != nil {
		expired, dead := hb.woken(w)
		switch {
		case h.fromHub(st, hb):
			return false
		case expired:
			return false
		case !dead:
			return !h.read(ctx, st, st.cursor, st.req.Limit) && !h.stopped(st)
		}
		hb.remove(w)
		h.release(hb)
		st.hub = nil
	}
	hb, err := h.acquire(ctx, st.req.Topic)
	if err != nil {
		st.err = err
		return false
	}
	st.hub = hb
	if !hb.add(w) {
		// Ended before we joined: a read tells whether the broker is gone.
		if !h.read(ctx, st, st.cursor, st.req.Limit) {
			st.err = bus.ErrClosed
		}
		return false
	}
	// Look again now that the hub will report any later message, so one
	// published since the first read is not missed; Shutdown notifies
	// registered waiters, and this check covers one that came before.
	return !h.fromHub(st, hb) && !h.read(ctx, st, st.cursor, st.req.Limit) && !h.stopped(st)
}

// fromHub answers st from the window of hb, a hub of its topic or nil,
// when the window holds what follows st's cursor, and reports whether it
// did. A request that is not held uses the hub of the requests held on its
// topic, if any: the messages it keeps are encoded already, and the body
// may be shared. A hub that ended meanwhile still has messages that follow
// the cursor, though maybe not the latest; the next request gets those.
func (h *Handler) fromHub(st *state, hb *hub) bool {
	if hb == nil {
		return false
	}
	c, err := bus.ParseID(st.cursor)
	if err != nil {
		return false
	}
	body, n, id := hb.answer(c, st.req.Limit)
	if body == nil {
		return false
	}
	st.body, st.nmsgs, st.cursor = body, n, id
	return true
}

func (h *Handler) stopped(st *state) bool {
	select {
	case <-st.stop:
		return true
	default:
		return false
	}
}
