package main

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pushpull/pushpull/metrics"
)

// The bare servers are what one would write by hand for each wire format,
// for comparison: a log of every message in memory, which the publisher
// appends to and wakes every connection waiting on, and one loop per
// connection that writes the messages after its cursor one by one:
//
//   - bare-sse: a net/http handler writing "id: n\ndata: payload\n\n" and
//     flushing after each event; the cursor is Last-Event-ID;
//   - bare-ws: a coder/websocket loop writing each message, a JSON
//     envelope like pushpull's ({"op":"message","topic":…,"id":…,"data":…}),
//     in a frame of its own; the cursor is the after query parameter;
//   - bare-longpoll: a handler answering {"messages":[…]} with every message
//     after the after parameter, at once if there are some, else when the
//     next comes, or empty after bareHold.
//
// Message n has ID n. A write that takes longer than bareWriteTimeout cuts
// the connection, as pushpull's handlers cut a client that stopped reading.
// Like those handlers, they report each stream, WebSocket and held poll to
// a metrics.Recorder (ConnOpened, ConnClosed with reason slow for a cut).
type bare struct {
	transport string
	m         metrics.Recorder

	mu   sync.Mutex
	log  [][]byte      // log[i] is message i+1's payload
	wake chan struct{} // closed, and replaced, at each publication
	done chan struct{} // closed by close
	once sync.Once
}

const (
	bareWriteTimeout = 10 * time.Second
	bareHold         = 30 * time.Second
	bareMaxBatch     = 1000 // messages in one long-poll answer at most
)

func newBare(transport string, m metrics.Recorder) *bare {
	return &bare{transport: transport, m: m, wake: make(chan struct{}), done: make(chan struct{})}
}

// open reports a connection opened; the returned function reports it
// closed, as cut when failed is set and the client had not left.
func (b *bare) open(ctx context.Context) func(failed *bool) {
	b.m.Record(metrics.Event{Kind: metrics.ConnOpened, Transport: b.transport, Topic: topic})
	return func(failed *bool) {
		why := metrics.ReasonClosed
		if *failed && ctx.Err() == nil {
			why = metrics.ReasonSlow
		}
		b.m.Record(metrics.Event{Kind: metrics.ConnClosed, Transport: b.transport, Topic: topic, Outcome: why})
	}
}

func (b *bare) publish(_ context.Context, data []byte) error {
	b.mu.Lock()
	b.log = append(b.log, data)
	close(b.wake)
	b.wake = make(chan struct{})
	b.mu.Unlock()
	return nil
}

func (b *bare) close() { b.once.Do(func() { close(b.done) }) }

// after returns the messages after cursor (at most limit) and a channel
// closed at the next publication.
func (b *bare) after(cursor, limit int) ([][]byte, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	cursor = max(0, min(cursor, len(b.log)))
	end := min(len(b.log), cursor+limit)
	return b.log[cursor:end], b.wake
}

// wait blocks until wake is closed; it reports false when ctx ends or the
// server closes first.
func (b *bare) wait(ctx context.Context, wake <-chan struct{}) bool {
	select {
	case <-wake:
		return true
	case <-ctx.Done():
	case <-b.done:
	}
	return false
}

func (b *bare) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch b.transport {
	case "bare-sse":
		b.serveSSE(w, r)
	case "bare-ws":
		b.serveWS(w, r)
	default:
		b.serveLongPoll(w, r)
	}
}

func (b *bare) serveSSE(w http.ResponseWriter, r *http.Request) {
	cursor, _ := strconv.Atoi(r.Header.Get("Last-Event-ID"))
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if rc.Flush() != nil {
		return
	}
	failed := false
	defer b.open(r.Context())(&failed)
	var buf []byte
	for {
		msgs, wake := b.after(cursor, 1<<30)
		for _, m := range msgs {
			cursor++
			buf = append(buf[:0], "id: "...)
			buf = strconv.AppendInt(buf, int64(cursor), 10)
			buf = append(buf, "\ndata: "...)
			buf = append(buf, m...)
			buf = append(buf, "\n\n"...)
			_ = rc.SetWriteDeadline(time.Now().Add(bareWriteTimeout))
			if _, err := w.Write(buf); err != nil {
				failed = true
				return
			}
			if rc.Flush() != nil {
				failed = true
				return
			}
		}
		if len(msgs) == 0 && !b.wait(r.Context(), wake) {
			return
		}
	}
}

func (b *bare) serveWS(w http.ResponseWriter, r *http.Request) {
	cursor, _ := strconv.Atoi(r.URL.Query().Get("after"))
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := c.CloseRead(r.Context())
	failed := false
	defer b.open(ctx)(&failed)
	var buf []byte
	for {
		msgs, wake := b.after(cursor, 1<<30)
		for _, m := range msgs {
			cursor++
			buf = append(buf[:0], `{"op":"message","topic":"`+topic+`","id":"`...)
			buf = strconv.AppendInt(buf, int64(cursor), 10)
			buf = append(buf, `","data":`...)
			buf = append(buf, m...)
			buf = append(buf, '}')
			wctx, cancel := context.WithTimeout(ctx, bareWriteTimeout)
			err := c.Write(wctx, websocket.MessageText, buf)
			cancel()
			if err != nil {
				failed = true
				return
			}
		}
		if len(msgs) == 0 && !b.wait(ctx, wake) {
			return
		}
	}
}

func (b *bare) serveLongPoll(w http.ResponseWriter, r *http.Request) {
	cursor, _ := strconv.Atoi(r.URL.Query().Get("after"))
	msgs, wake := b.after(cursor, bareMaxBatch)
	if len(msgs) == 0 {
		msgs = b.hold(r.Context(), cursor, wake)
	}
	buf := []byte(`{"messages":[`)
	for i, m := range msgs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"id":"`...)
		buf = strconv.AppendInt(buf, int64(cursor+i+1), 10)
		buf = append(buf, `","data":`...)
		buf = append(buf, m...)
		buf = append(buf, '}')
	}
	buf = append(buf, "]}"...)
	w.Header().Set("Content-Type", "application/json")
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(bareWriteTimeout))
	_, _ = w.Write(buf)
}

// hold waits for messages after cursor, at most bareHold, reporting the
// held request as a connection.
func (b *bare) hold(ctx context.Context, cursor int, wake <-chan struct{}) [][]byte {
	defer b.open(ctx)(new(bool))
	t := time.NewTimer(bareHold)
	defer t.Stop()
	for {
		select {
		case <-wake:
		case <-t.C:
			return nil
		case <-b.done:
			return nil
		case <-ctx.Done():
			return nil
		}
		var msgs [][]byte
		if msgs, wake = b.after(cursor, bareMaxBatch); len(msgs) > 0 {
			return msgs
		}
	}
}
