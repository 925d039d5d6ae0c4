package sse

import (
	"context"
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
)

// transport is the Transport of the Handler's metrics.
const transport = "sse"

// refused reports a request answered with the error status code, if it is a
// refusal: not a server failure.
func (h *Handler) refused(code int, topic string, err error) {
	if h.Metrics == nil {
		return
	}
	why := "invalid"
	switch {
	case code == http.StatusForbidden:
		why = "forbidden"
	case code == http.StatusUnauthorized:
		why = "unauthorized"
	case errors.Is(err, ErrTooManyStreams):
		why = "capacity"
	case errors.Is(err, ErrShutdown):
		why = metrics.ReasonShutdown
	case code >= 500:
		return // the broker or the credentials check failed: not a refusal
	}
	h.Metrics.Record(metrics.Event{Kind: metrics.Refused, Transport: transport, Topic: topic, Status: code, Outcome: why})
}

// opened reports the start of s and returns when it started.
func (s *stream) opened() time.Time {
	s.h.Metrics.Record(metrics.Event{Kind: metrics.ConnOpened, Transport: transport, Topic: s.topic})
	return time.Now()
}

// closed reports the end of s, opened at start.
func (s *stream) closed(start time.Time) {
	s.h.Metrics.Record(metrics.Event{Kind: metrics.ConnClosed, Transport: transport, Topic: s.topic,
		Outcome: s.why, Duration: time.Since(start)})
}

// writeFailed returns the reason a stream ends on the write error err.
func (s *stream) writeFailed(err error) string {
	select {
	case <-s.h.stop:
		return metrics.ReasonShutdown // Shutdown cut the write
	default:
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return metrics.ReasonSlow // WriteTimeout
	}
	return metrics.ReasonClosed
}

// subEnded returns the reason a stream ends when its subscription does.
func subEnded(err error) string {
	switch {
	case err == nil:
		return metrics.ReasonDone
	case errors.Is(err, bus.ErrCursorExpired):
		return metrics.ReasonExpired
	case errors.Is(err, bus.ErrSlowConsumer):
		return metrics.ReasonSlow
	case errors.Is(err, bus.ErrClosed):
		return metrics.ReasonShutdown
	}
	return metrics.ReasonError
}

// clientTransport is the Transport of the Client's metrics.
const clientTransport = "sse-client"

// readReported is read, reporting the connection to the Client's Metrics.
func (s *clientSub) readReported(ctx context.Context, resp *http.Response) (bool, error) {
	rec := s.c.Metrics
	if rec == nil {
		return s.read(ctx, resp)
	}
	rec.Record(metrics.Event{Kind: metrics.ConnOpened, Transport: clientTransport, Topic: s.topic})
	start := time.Now()
	progress, err := s.read(ctx, resp)
	why := metrics.ReasonClosed // the server ended the stream or the network failed
	switch {
	case s.closed.Load():
	case ctx.Err() != nil:
		why = metrics.ReasonCanceled
	case errors.Is(err, bus.ErrCursorExpired):
		why = metrics.ReasonExpired
	case err != nil:
		why = metrics.ReasonError
	}
	rec.Record(metrics.Event{Kind: metrics.ConnClosed, Transport: clientTransport, Topic: s.topic, Outcome: why, Duration: time.Since(start)})
	return progress, err
}
