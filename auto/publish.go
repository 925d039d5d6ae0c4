package auto

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/httptopic"
	"github.com/pushpull/pushpull/internal/pollwire"
)

// publishRequest is the JSON body of POST Prefix/publish?topic=T: the
// fields of a ws publish frame.
type publishRequest struct {
	Type   string            `json:"type,omitempty"`
	Data   *string           `json:"data,omitempty"`
	Data64 *string           `json:"data64,omitempty"`
	Meta   map[string]string `json:"meta,omitempty"`
}

// publishAnswer is the JSON body of a successful publish.
type publishAnswer struct {
	ID   string `json:"id"`
	Time string `json:"time,omitempty"`
}

// Error codes of the publish route beyond those of poll and longpoll.
const (
	codeInvalidMessage = "invalid_message"
	codeBadRequest     = "bad_request"
	codeTooLarge       = "too_large"
	codeMediaType      = "unsupported_media_type"
)

func (h *Handler) servePublish(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		pollwire.WriteErrorBody(w, http.StatusMethodNotAllowed, pollwire.ErrorBody{Error: pollwire.CodeMethod, Message: "use POST", Allowed: "POST"})
		return
	}
	if !h.originAllowed(r) {
		pollwire.WriteErrorBody(w, http.StatusForbidden, pollwire.ErrorBody{Error: pollwire.CodeForbidden, Message: "cross-origin publish from an origin not in OriginPatterns"})
		return
	}
	// Requiring application/json also makes a cross-origin browser send a
	// CORS preflight first, which plain forms cannot.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		pollwire.WriteErrorBody(w, http.StatusUnsupportedMediaType, pollwire.ErrorBody{Error: codeMediaType, Message: "the body must be application/json"})
		return
	}
	r, id, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	topic, err := httptopic.FromRequest(r)
	if err != nil {
		pollwire.WriteError(w, err, 0)
		return
	}
	if !h.authorize(w, r, id, ActionPublish, topic) {
		return
	}
	limit := h.maxMessageBytes()
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		pollwire.WriteErrorBody(w, http.StatusBadRequest, pollwire.ErrorBody{Error: codeBadRequest, Message: "reading the body failed"})
		return
	}
	if int64(len(body)) > limit {
		w.Header().Set("Connection", "close")
		pollwire.WriteErrorBody(w, http.StatusRequestEntityTooLarge, pollwire.ErrorBody{Error: codeTooLarge, Message: fmt.Sprintf("the body exceeds %d bytes", limit)})
		return
	}
	m, err := decodePublish(body)
	if err != nil {
		pollwire.WriteErrorBody(w, http.StatusBadRequest, pollwire.ErrorBody{Error: codeBadRequest, Message: err.Error()})
		return
	}
	if h.OnPublish != nil {
		m.Topic = topic
		if err := h.OnPublish(r.Context(), id, &m); err != nil {
			if errors.Is(err, bus.ErrInvalidMessage) {
				pollwire.WriteErrorBody(w, http.StatusBadRequest, pollwire.ErrorBody{Error: codeInvalidMessage, Message: err.Error()})
				return
			}
			pollwire.WriteError(w, fmt.Errorf("%w: publish %q: %w", pollwire.ErrForbidden, topic, err), 0)
			return
		}
		m.Topic = topic
	}
	stored, err := h.Broker.Publish(r.Context(), topic, m)
	if err != nil {
		if errors.Is(err, bus.ErrInvalidMessage) {
			pollwire.WriteErrorBody(w, http.StatusBadRequest, pollwire.ErrorBody{Error: codeInvalidMessage, Message: err.Error()})
			return
		}
		h.logError("auto: publish", topic, err)
		pollwire.WriteError(w, err, time.Second)
		return
	}
	a := publishAnswer{ID: stored.ID}
	if !stored.Time.IsZero() {
		a.Time = stored.Time.UTC().Format(time.RFC3339Nano)
	}
	out, _ := json.Marshal(a)
	w.Header().Set("Content-Type", pollwire.ContentType)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(out)
}

// decodePublish decodes a publish body into a message.
func decodePublish(body []byte) (bus.Message, error) {
	var p publishRequest
	if err := json.Unmarshal(body, &p); err != nil {
		return bus.Message{}, fmt.Errorf("the body is not a JSON publish object: %v", err)
	}
	m := bus.Message{Type: p.Type, Meta: p.Meta}
	switch {
	case p.Data != nil && p.Data64 != nil:
		return m, errors.New(`the body has both "data" and "data64"`)
	case p.Data != nil:
		m.Data = []byte(*p.Data)
	case p.Data64 != nil:
		b, err := base64.StdEncoding.DecodeString(*p.Data64)
		if err != nil {
			return m, fmt.Errorf(`"data64" is not standard base64: %v`, err)
		}
		m.Data = b
	}
	return m, nil
}

// originAllowed reports whether a publish request may come from its
// Origin: none (not a browser), the request's own host, or a host matching
// OriginPatterns.
func (h *Handler) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return r.Header.Get("Sec-Fetch-Site") != "cross-site"
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, p := range h.OriginPatterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return true
		}
	}
	return false
}
