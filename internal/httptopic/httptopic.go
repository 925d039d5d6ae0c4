package httptopic

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

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

// URL returns a client's request URL for topic: base with "{topic}"
// replaced by the escaped topic, or with a topic query parameter added when
// base has no "{topic}", and the parameters q set. base must be an absolute
// http or https URL; any other is refused with an error starting with
// prefix, which no retry can fix.
func URL(prefix, base, topic string, q url.Values) (string, error) {
	add := true
	if strings.Contains(base, "{topic}") {
		base = strings.ReplaceAll(base, "{topic}", url.PathEscape(topic))
		add = false
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("%s: client URL: %w", prefix, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%s: client URL %q is not an absolute http or https URL", prefix, u.Redacted())
	}
	v := u.Query()
	if add {
		v.Set("topic", topic)
	}
	for k, vs := range q {
		v[k] = vs
	}
	u.RawQuery = v.Encode()
	return u.String(), nil
}
