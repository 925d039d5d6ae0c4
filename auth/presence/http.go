package presence

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/internal/httptopic"
)

// A List is the JSON answer of ServeHTTP.
type List struct {
	Topic   string   `json:"topic"`
	Members []Member `json:"members"`
}

// ServeHTTP answers GET with the List of the request's topic (the {topic}
// path value, else the topic query parameter). The request is
// authenticated with Auth and must be allowed to subscribe to the topic:
// whoever may read a topic may see who is on it. Statuses: 401 without
// valid credentials, 403 for a topic not granted, 400 for an invalid
// topic, 405 for other methods, 503 when the credentials cannot be
// checked.
func (p *Memory) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "presence: use GET", http.StatusMethodNotAllowed)
		return
	}
	r, id, err := auth.Authenticate(p, r)
	if err != nil {
		if errors.Is(err, auth.ErrUnauthenticated) {
			w.Header().Set("WWW-Authenticate", auth.Challenge(err))
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if p.Logger != nil {
			p.Logger.Warn("presence: credentials could not be checked", "err", err)
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
	if err := p.Authorize(r.Context(), id, auth.Subscribe, topic); err != nil {
		http.Error(w, "presence: forbidden", http.StatusForbidden)
		return
	}
	body, _ := json.Marshal(List{Topic: topic, Members: p.Members(topic)})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodGet {
		_, _ = w.Write(append(body, '\n'))
	}
}
