package ws

import (
	"context"
	"net/http"
	"time"

	"github.com/coder/websocket"
	"github.com/pushpull/pushpull/metrics"
)

// transport is the Transport of the Handler's metrics.
const transport = "ws"

// refusedAdmit reports an upgrade refused by admit with 503.
func (h *Handler) refusedAdmit(err error) {
	if h.Metrics == nil {
		return
	}
	why := "capacity"
	if err == errShuttingDown {
		why = metrics.ReasonShutdown
	}
	h.Metrics.Record(metrics.Event{Kind: metrics.Refused, Transport: transport, Status: http.StatusServiceUnavailable, Outcome: why})
}

// refusedUpgrade reports an upgrade websocket.Accept refused with status
// (0 when it wrote none).
func (h *Handler) refusedUpgrade(status int) {
	if h.Metrics == nil {
		return
	}
	why := "invalid"
	switch status {
	case http.StatusForbidden:
		why = "forbidden" // an origin not allowed
	case http.StatusUnauthorized:
		why = "unauthorized"
	}
	h.Metrics.Record(metrics.Event{Kind: metrics.Refused, Transport: transport, Status: status, Outcome: why})
}

// delivered reports the message frames among fs as Delivered, one event
// per run of messages of one topic.
func (c *Conn) delivered(fs []frame) {
	m := c.h.Metrics
	if m == nil {
		return
	}
	for i := 0; i < len(fs); {
		topic := fs[i].topic
		n, size := int64(0), int64(0)
		for ; i < len(fs) && fs[i].topic == topic; i++ {
			n++
			size += int64(len(fs[i].p))
		}
		if topic != "" {
			m.Record(metrics.Event{Kind: metrics.Delivered, Transport: transport, Topic: topic, N: n, Bytes: size})
		}
	}
}

// reportError reports an error frame of code about topic: a Reset for an
// expired cursor, a refusal for a forbidden subscribe or publish.
func (c *Conn) reportError(code, topic string) {
	m := c.h.Metrics
	if m == nil {
		return
	}
	switch code {
	case codeCursorExpired:
		m.Record(metrics.Event{Kind: metrics.Reset, Transport: transport, Topic: topic})
	case codeForbidden:
		m.Record(metrics.Event{Kind: metrics.Refused, Transport: transport, Topic: topic, Status: http.StatusForbidden, Outcome: "forbidden"})
	}
}

// opened reports the connection's start and returns when it started.
func (c *Conn) opened() time.Time {
	c.h.Metrics.Record(metrics.Event{Kind: metrics.ConnOpened, Transport: transport})
	return time.Now()
}

// closed reports the end of the connection opened at start, once serve has
// returned.
func (c *Conn) closed(start time.Time) {
	c.mu.Lock()
	code := c.closeCode
	c.mu.Unlock()
	c.h.mu.Lock()
	down := c.h.shutdown
	c.h.mu.Unlock()
	why := metrics.ReasonError // closed by the server for a protocol violation
	switch {
	case code == CloseSlowConsumer:
		why = metrics.ReasonSlow
	case code == websocket.StatusGoingAway && down:
		why = metrics.ReasonShutdown
	case code == websocket.StatusNormalClosure, code == CloseExpired:
		why = metrics.ReasonDone // CloseExpired: the client comes back with fresh credentials
	case code == 0:
		why = metrics.ReasonClosed // the client closed it or went away
	}
	c.h.Metrics.Record(metrics.Event{Kind: metrics.ConnClosed, Transport: transport, Outcome: why, Duration: time.Since(start)})
}

// clientTransport is the Transport of the Client's metrics.
const clientTransport = "ws-client"

// serveReported is serve, reporting the connection to the Client's Metrics.
func (c *Client) serveReported(ctx context.Context, conn *websocket.Conn) error {
	rec := c.Metrics
	if rec == nil {
		return c.serve(ctx, conn)
	}
	rec.Record(metrics.Event{Kind: metrics.ConnOpened, Transport: clientTransport})
	start := time.Now()
	err := c.serve(ctx, conn)
	why := metrics.ReasonError
	switch code := websocket.CloseStatus(err); {
	case ctx.Err() != nil:
		why = metrics.ReasonClosed // Close
	case code == CloseSlowConsumer:
		why = metrics.ReasonSlow
	case code == websocket.StatusGoingAway:
		why = metrics.ReasonShutdown
	case code == websocket.StatusNormalClosure, code == CloseExpired:
		why = metrics.ReasonDone
	}
	rec.Record(metrics.Event{Kind: metrics.ConnClosed, Transport: clientTransport, Outcome: why, Duration: time.Since(start)})
	return err
}
