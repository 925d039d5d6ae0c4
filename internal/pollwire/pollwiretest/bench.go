package pollwiretest

import (
	"net/http"
	"sync/atomic"
)

// Counter counts the requests it passes to Handler, by status.
type Counter struct {
	Handler  http.Handler
	Requests atomic.Int64
	NotMod   atomic.Int64
}

// ServeHTTP implements http.Handler.
func (c *Counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.Requests.Add(1)
	c.Handler.ServeHTTP(&notModWriter{ResponseWriter: w, c: c}, r)
}

type notModWriter struct {
	http.ResponseWriter
	c *Counter
}

func (w *notModWriter) WriteHeader(code int) {
	if code == http.StatusNotModified {
		w.c.NotMod.Add(1)
	}
	w.ResponseWriter.WriteHeader(code)
}

// StripConditional is a RoundTripper that removes If-None-Match, to measure
// polling without 304 answers.
type StripConditional struct{ Base http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (s StripConditional) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Del("If-None-Match")
	return s.Base.RoundTrip(r)
}
