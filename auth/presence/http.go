package presence

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/internal/httptopic"
)

// A List is the JSON answer of ServeHTTP.
type List struct {
	Topic   string   `json:"topic"`
	Members []Member `json:"members"`
}

// ServeHTTP answers GET with the List of the request's topic: see
// ServeList.
func (p *Memory) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ServeList(w, r, p, func(_ context.Context, topic string) ([]Member, error) { return p.Members(topic), nil }, p.Logger)
}

// ServeList answers GET with the List of the request's topic (the {topic}
// path value, else the topic query parameter), as members returns it, for
// the ServeHTTP methods of presence stores. The request is authenticated
// with a and must be allowed to subscribe to the topic: whoever may read
// a topic may see who is on it. Statuses: 401 without valid credentials,
// 403 for a topic not granted, 400 for an invalid topic, 405 for other
// methods, 503 when the credentials cannot be checked or members fails
// (logged to logger, which may be nil).
func ServeList(w http.ResponseWriter, r *http.Request, a auth.Authorizer, members func(ctx context.Context, topic string) ([]Member, error), logger *slog.Logger) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "presence: use GET", http.StatusMethodNotAllowed)
		return
	}
	r, id, err := auth.Authenticate(a, r)
	if err != nil {
		if errors.Is(err, auth.ErrUnauthenticated) {
			w.Header().Set("WWW-Authenticate", auth.Challenge(err))
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if logger != nil {
			logger.Warn("presence: credentials could not be checked", "err", err)
		}
		w.Header().Set("Retry-After", "1")
		http.Error(w, "presence: credentials could not be checked", http.StatusServiceUnavailable)
		return
	}
	topic, err := httptopic.FromRequest(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := a.Authorize(r.Context(), id, auth.Subscribe, topic); err != nil {
		http.Error(w, "presence: forbidden", http.StatusForbidden)
		return
	}
	list, err := members(r.Context(), topic)
	if err != nil {
		if logger != nil {
			logger.Warn("presence: members could not be read", "topic", topic, "err", err)
		}
		w.Header().Set("Retry-After", "1")
		http.Error(w, "presence: members could not be read", http.StatusServiceUnavailable)
		return
	}
	body, _ := json.Marshal(List{Topic: topic, Members: list})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodGet {
		_, _ = w.Write(append(body, '\n'))
	}
}
