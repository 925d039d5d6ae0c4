package retry

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxRetryAfter bounds the wait a server may ask for with Retry-After: a
// longer (or mistaken) value is cut to it, so a client never sleeps for
// days on one header.
const MaxRetryAfter = 10 * time.Minute

// MaxBody is how much of a refused answer's body ReadStatus looks at.
const MaxBody = 4 << 10

// maxMessage bounds the server's message kept in a Status.
const maxMessage = 200

// Retryable reports whether a request refused with status may succeed when
// it is repeated later, so the clients retry it: 408 Request Timeout, 425
// Too Early, 429 Too Many Requests, and the 5xx statuses (500, 502, 503,
// 504, and the like of a proxy's 520–524) except 501 Not Implemented and
// 505 HTTP Version Not Supported, which repeating cannot fix. Every other
// status (400, 401, 403, 404 and the rest of 4xx, and unexpected 1xx, 2xx
// and 3xx answers) ends the subscription.
func Retryable(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return true
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported:
		return false
	}
	return status >= 500 && status < 600
}

// Wait is the pause before the next attempt after a failure: the next
// interval of the backoff, or the server's Retry-After (when it sent one)
// plus up to a tenth more at random, so clients refused together come back
// spread out; whichever is longer. A Retry-After of 0 thus never makes a
// client spin.
func Wait(next, retryAfter time.Duration) time.Duration {
	if retryAfter <= 0 {
		return next
	}
	return max(next, retryAfter+jitter(retryAfter/10))
}

func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// A Status describes an answer that refused a request: the fields every
// client's StatusError carries, in the same order, so a client converts it
// to its own type.
type Status struct {
	StatusCode int           // the HTTP status
	Code       string        // the error code of a JSON error body, if any
	Message    string        // the server's explanation, at most 200 bytes on one line
	RetryAfter time.Duration // the server's Retry-After, at most MaxRetryAfter; zero when none
}

// ReadStatus describes the refusal resp, whose body is body (up to MaxBody
// bytes of it; the caller reads and closes it). A JSON body of the
// library's error shape, {"error": code, "message": text}, gives Code and
// Message; any other body gives its first bytes as Message, as one line of
// text.
func ReadStatus(resp *http.Response, body []byte, now time.Time) Status {
	s := Status{StatusCode: resp.StatusCode}
	s.RetryAfter, _ = RetryAfter(resp.Header.Get("Retry-After"), now, MaxRetryAfter)
	var eb struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
		s.Code, s.Message = clean(eb.Error), clean(eb.Message)
	} else {
		s.Message = clean(string(body))
	}
	return s
}

// clean makes s one line of printable text of at most maxMessage bytes:
// runs of spaces and control characters become one space, invalid UTF-8
// becomes U+FFFD.
func clean(s string) string {
	if len(s) > 4*maxMessage {
		s = s[:4*maxMessage]
	}
	var b strings.Builder
	space := false
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			space = true
			continue
		}
		sep := space && b.Len() > 0
		space = false
		n := utf8.RuneLen(r)
		if sep {
			n++
		}
		if b.Len()+n > maxMessage {
			break
		}
		if sep {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Text is the Error text of a client's StatusError in package prefix, for
// example "sse: server answered 503 Service Unavailable: sse: handler is
// shutting down" or "poll: server answered 403 Forbidden (forbidden):
// access to the topic is denied".
func (s Status) Text(prefix string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: server answered %d", prefix, s.StatusCode)
	if t := http.StatusText(s.StatusCode); t != "" {
		b.WriteString(" " + t)
	}
	if s.Code != "" {
		b.WriteString(" (" + s.Code + ")")
	}
	if s.Message != "" {
		b.WriteString(": " + s.Message)
	}
	return b.String()
}
