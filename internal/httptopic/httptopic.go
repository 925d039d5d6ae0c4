package httptopic

import (
	"fmt"
	"net/http"

	"github.com/pushpull/pushpull/bus"
)

// FromRequest returns the default topic of r: the {topic} path value when the
// route has one, else the "topic" query parameter. The name is checked with
// bus.ValidateTopic; a missing or invalid topic yields an error wrapping
// bus.ErrInvalidTopic.
func FromRequest(r *http.Request) (string, error) {
	topic := r.PathValue("topic")
	if topic == "" {
		topic = r.URL.Query().Get("topic")
	}
	if topic == "" {
		return "", fmt.Errorf("%w: no topic in the path or the topic query parameter", bus.ErrInvalidTopic)
	}
	if err := bus.ValidateTopic(topic); err != nil {
		return "", err
	}
	return topic, nil
}

// Resolve calls fn, or FromRequest when fn is nil, and validates the result.
func Resolve(r *http.Request, fn func(*http.Request) (string, error)) (string, error) {
	if fn == nil {
		return FromRequest(r)
	}
	topic, err := fn(r)
	if err != nil {
		return "", err
	}
	if err := bus.ValidateTopic(topic); err != nil {
		return "", err
	}
	return topic, nil
}

// CheckCursor validates a cursor received from a client: "", bus.Oldest or a
// message ID. It returns an error wrapping bus.ErrInvalidCursor.
func CheckCursor(after string) error {
	if after == "" || after == bus.Oldest {
		return nil
	}
	_, err := bus.ParseID(after)
	return err
}
