package retry

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		value string
		max   time.Duration
		want  time.Duration
		ok    bool
	}{
		{"empty", "", 0, 0, false},
		{"seconds", "120", 0, 2 * time.Minute, true},
		{"spaces", " 5 ", 0, 5 * time.Second, true},
		{"clamped", "86400", time.Hour, time.Hour, true},
		{"zero", "0", 0, 0, true},
		{"negative", "-5", 0, 0, false},
		{"fraction", "1.5", 0, 0, false},
		{"garbage", "soon", 0, 0, false},
		{"http date", "Fri, 27 Nov 2026 12:00:30 GMT", 0, 30 * time.Second, true},
		{"past date", "Fri, 27 Nov 2026 11:00:00 GMT", 0, 0, true},
		{"huge", "99999999999", 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := RetryAfter(tc.value, now, tc.max)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestNewBackOffNeverGivesUp(t *testing.T) {
	b := NewBackOff(10*time.Millisecond, time.Second)
	assert.Zero(t, b.MaxElapsedTime)
	for range 1000 {
		d := b.NextBackOff()
		assert.Greater(t, d, time.Duration(0))
		assert.LessOrEqual(t, d, 1500*time.Millisecond)
	}
}

func TestRetryable(t *testing.T) {
	t.Parallel()
	for _, code := range []int{408, 425, 429, 500, 502, 503, 504, 507, 520, 524, 599} {
		assert.True(t, Retryable(code), "%d", code)
	}
	for _, code := range []int{0, 100, 200, 204, 301, 304, 400, 401, 403, 404, 405, 409, 410, 422, 451, 499, 501, 505, 600} {
		assert.False(t, Retryable(code), "%d", code)
	}
}

func TestWait(t *testing.T) {
	t.Parallel()
	assert.Equal(t, time.Second, Wait(time.Second, 0), "no Retry-After: the backoff")
	assert.Equal(t, time.Minute, Wait(time.Minute, time.Second), "the backoff when longer")
	for range 1000 {
		d := Wait(time.Second, 30*time.Second)
		assert.GreaterOrEqual(t, d, 30*time.Second)
		assert.Less(t, d, 33*time.Second, "at most a tenth of jitter")
	}
}

func TestReadStatus(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		want   Status
		text   string
	}{
		{"json", 403, nil, `{"error":"forbidden","message":"access to the topic is denied"}`,
			Status{StatusCode: 403, Code: "forbidden", Message: "access to the topic is denied"},
			"x: server answered 403 Forbidden (forbidden): access to the topic is denied"},
		{"text", 503, http.Header{"Retry-After": {"3"}}, "sse: handler is shutting down\n",
			Status{StatusCode: 503, Message: "sse: handler is shutting down", RetryAfter: 3 * time.Second},
			"x: server answered 503 Service Unavailable: sse: handler is shutting down"},
		{"date", 503, http.Header{"Retry-After": {"Fri, 27 Nov 2026 12:00:30 GMT"}}, "",
			Status{StatusCode: 503, RetryAfter: 30 * time.Second},
			"x: server answered 503 Service Unavailable"},
		{"clamped", 429, http.Header{"Retry-After": {"86400"}}, "slow down",
			Status{StatusCode: 429, Message: "slow down", RetryAfter: MaxRetryAfter},
			"x: server answered 429 Too Many Requests: slow down"},
		{"json without code", 404, nil, `{"message":"m"}`,
			Status{StatusCode: 404, Message: `{"message":"m"}`},
			`x: server answered 404 Not Found: {"message":"m"}`},
		{"html", 502, nil, "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n\t<body>\x00\xff</body>",
			Status{StatusCode: 502, Message: "<html> <head><title>502 Bad Gateway</title></head> <body> \uFFFD</body>"},
			"x: server answered 502 Bad Gateway: <html> <head><title>502 Bad Gateway</title></head> <body> \uFFFD</body>"},
		{"unknown status", 599, nil, "", Status{StatusCode: 599}, "x: server answered 599"},
		{"long", 500, nil, strings.Repeat("é", 300), Status{StatusCode: 500, Message: strings.Repeat("é", 100)},
			"x: server answered 500 Internal Server Error: " + strings.Repeat("é", 100)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := tc.header
			if h == nil {
				h = http.Header{}
			}
			got := ReadStatus(&http.Response{StatusCode: tc.status, Header: h}, []byte(tc.body), now)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.text, got.Text("x"))
		})
	}
}
