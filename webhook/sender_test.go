package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// script is a fake endpoint: it answers the i-th request with responses[i]
// (the last one repeats) and records every request.
type script struct {
	mu        sync.Mutex
	responses []func(*http.Request) (*http.Response, error)
	reqs      []*http.Request
	bodies    [][]byte
	at        []time.Time
}

func (s *script) RoundTrip(r *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	i := min(len(s.reqs), len(s.responses)-1)
	s.reqs = append(s.reqs, r)
	s.bodies = append(s.bodies, b)
	s.at = append(s.at, time.Now())
	f := s.responses[i]
	s.mu.Unlock()
	return f(r)
}

func status(code int, hdr ...string) func(*http.Request) (*http.Response, error) {
	return func(r *http.Request) (*http.Response, error) {
		h := http.Header{}
		for i := 0; i+1 < len(hdr); i += 2 {
			h.Set(hdr[i], hdr[i+1])
		}
		return &http.Response{StatusCode: code, Header: h, Body: io.NopCloser(strings.NewReader("answer " + strconv.Itoa(code))), Request: r}, nil
	}
}

func testEndpoint(t testing.TB) *Endpoint {
	s, err := GenerateSecret()
	require.NoError(t, err)
	return &Endpoint{ID: "ep", URL: "http://receiver.example/hook", Keys: Secrets(s)}
}

func TestSenderRetriesOnSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sc := &script{responses: []func(*http.Request) (*http.Response, error){status(500), status(500), status(503), status(200)}}
		s := &Sender{Client: &http.Client{Transport: sc}, Jitter: -1,
			Schedule: []time.Duration{5 * time.Second, time.Minute, 10 * time.Minute}}
		ep := testEndpoint(t)
		start := time.Now()
		attempts, err := s.Send(t.Context(), ep, Delivery{ID: "msg_1", Body: []byte(`{"x":1}`)})
		require.NoError(t, err)
		require.Len(t, attempts, 4)
		require.Len(t, sc.reqs, 4)
		wantAt := []time.Duration{0, 5 * time.Second, 65 * time.Second, 665 * time.Second}
		for i, r := range sc.reqs {
			assert.Equal(t, wantAt[i], sc.at[i].Sub(start), "attempt %d", i+1)
			assert.Equal(t, "msg_1", r.Header.Get(HeaderID), "stable id")
			assert.Equal(t, strconv.FormatInt(sc.at[i].Unix(), 10), r.Header.Get(HeaderTimestamp), "fresh timestamp")
			assert.NoError(t, Verify(ep.Keys, r.Header, sc.bodies[i], sc.at[i], 0), "valid signature")
			assert.Equal(t, i+1, attempts[i].N)
		}
		assert.Equal(t, 500, attempts[0].Status)
		assert.Equal(t, "answer 500", string(attempts[0].Response))
		assert.Equal(t, 5*time.Second, attempts[0].Next)
		assert.True(t, attempts[3].OK())
	})
}

func TestSenderJitter(t *testing.T) {
	t.Parallel()
	b := (&Sender{Schedule: []time.Duration{time.Hour}}).backOff()
	for range 100 {
		b.Reset()
		d := b.NextBackOff()
		assert.GreaterOrEqual(t, d, 48*time.Minute)
		assert.LessOrEqual(t, d, 72*time.Minute)
	}
	// The default schedule lasts more than a day, uncapped by backoff's
	// MaxElapsedTime.
	b = (&Sender{Jitter: -1}).backOff()
	var total time.Duration
	n := 0
	for d := b.NextBackOff(); d >= 0; d = b.NextBackOff() {
		total += d
		n++
	}
	assert.Equal(t, len(DefaultSchedule), n)
	assert.Greater(t, total, 24*time.Hour)
}

func TestSenderOutcomes(t *testing.T) {
	tests := []struct {
		name     string
		resp     []func(*http.Request) (*http.Response, error)
		err      error
		attempts int
		elapsed  time.Duration
	}{
		{"gone stops at once", []func(*http.Request) (*http.Response, error){status(410)}, ErrGone, 1, 0},
		{"exhausted", []func(*http.Request) (*http.Response, error){status(500)}, ErrExhausted, 3, 3 * time.Second},
		{"redirect is a failure", []func(*http.Request) (*http.Response, error){status(302, "Location", "/x"), status(204)}, nil, 2, time.Second},
		{"retry-after seconds", []func(*http.Request) (*http.Response, error){status(429, "Retry-After", "7"), status(200)}, nil, 2, 7 * time.Second},
		{"retry-after clamped", []func(*http.Request) (*http.Response, error){status(503, "Retry-After", "86400"), status(200)}, nil, 2, time.Minute},
		{"retry-after never shortens", []func(*http.Request) (*http.Response, error){status(502, "Retry-After", "0"), status(200)}, nil, 2, time.Second},
		{"retry-after ignored on 500", []func(*http.Request) (*http.Response, error){status(500, "Retry-After", "30"), status(200)}, nil, 2, time.Second},
		{"retry-after date", []func(*http.Request) (*http.Response, error){func(r *http.Request) (*http.Response, error) {
			return status(504, "Retry-After", time.Now().Add(20*time.Second).UTC().Format(http.TimeFormat))(r)
		}, status(200)}, nil, 2, 20 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sc := &script{responses: tc.resp}
				s := &Sender{Client: &http.Client{Transport: sc}, Jitter: -1, MaxRetryAfter: time.Minute,
					Schedule: []time.Duration{time.Second, 2 * time.Second}}
				start := time.Now()
				attempts, err := s.Send(t.Context(), testEndpoint(t), Delivery{ID: "msg_1", Body: []byte(`{}`)})
				if tc.err == nil {
					assert.NoError(t, err)
				} else {
					assert.ErrorIs(t, err, tc.err)
					var se *StatusError
					if assert.ErrorAs(t, err, &se) {
						assert.Equal(t, attempts[len(attempts)-1].Status, se.StatusCode)
					}
				}
				assert.Len(t, attempts, tc.attempts)
				assert.Equal(t, tc.elapsed, time.Since(start))
			})
		})
	}
}

func TestSenderTimeoutAndCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hang := func(r *http.Request) (*http.Response, error) { <-r.Context().Done(); return nil, r.Context().Err() }
		sc := &script{responses: []func(*http.Request) (*http.Response, error){hang, status(200)}}
		s := &Sender{Client: &http.Client{Transport: sc}, Timeout: 3 * time.Second, Jitter: -1,
			Schedule: []time.Duration{time.Second}}
		start := time.Now()
		attempts, err := s.Send(t.Context(), testEndpoint(t), Delivery{ID: "msg_1"})
		require.NoError(t, err)
		require.Len(t, attempts, 2)
		assert.Equal(t, 3*time.Second, attempts[0].Latency)
		assert.Contains(t, attempts[0].Error, "deadline exceeded")
		assert.Equal(t, 4*time.Second, time.Since(start))

		// Cancelling the context ends the schedule.
		ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
		defer cancel()
		sc = &script{responses: []func(*http.Request) (*http.Response, error){status(500)}}
		s = &Sender{Client: &http.Client{Transport: sc}, Jitter: -1}
		attempts, err = s.Send(ctx, testEndpoint(t), Delivery{ID: "msg_1"})
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Len(t, attempts, 2, "at 0 s and 5 s; the next would be after 5 min")
	})
}

func TestSenderRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	var followed int
	var mu sync.Mutex
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) { mu.Lock(); followed++; mu.Unlock() })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	s := &Sender{AllowPrivateNetworks: true}
	defer s.CloseIdleConnections()
	ep := testEndpoint(t)
	ep.URL = srv.URL + "/hook"
	a := s.Attempt(t.Context(), ep, Delivery{ID: "msg_1", Body: []byte(`{}`)})
	assert.Equal(t, 307, a.Status)
	assert.False(t, a.OK())
	mu.Lock()
	assert.Zero(t, followed)
	mu.Unlock()
}

func TestSenderLogsNoSecrets(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var sig string
	sc := &script{responses: []func(*http.Request) (*http.Response, error){func(r *http.Request) (*http.Response, error) {
		sig = r.Header.Get(HeaderSignature)
		return nil, errors.New("connection refused " + "(no secret here)")
	}}}
	ep := testEndpoint(t)
	s := &Sender{Client: &http.Client{Transport: sc}, Logger: logger, Schedule: []time.Duration{}}
	_, err := s.Send(t.Context(), ep, Delivery{ID: "msg_1"})
	require.ErrorIs(t, err, ErrExhausted)
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	require.NotEmpty(t, sig)
	assert.Contains(t, out, "msg_1")
	assert.NotContains(t, out, ep.Keys[0].Secret.Encode()[len(SecretPrefix):])
	assert.NotContains(t, out, sig[3:])
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Errors that no retry can fix end Send after one attempt, with their
// sentinel in the chain, instead of running the whole schedule.
func TestSenderStopsOnErrorsNoRetryFixes(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	defer srv.Close()
	secret, err := GenerateSecret()
	require.NoError(t, err)
	expired := Keyring{{Secret: secret, NotAfter: time.Now().Add(-time.Hour)}}
	tests := []struct {
		name    string
		private bool // AllowPrivateNetworks
		ep      Endpoint
		id      string
		err     error
		message string
	}{
		{"loopback refused", false, Endpoint{ID: "ep", URL: srv.URL, Keys: Secrets(secret)}, "msg_1", ErrForbiddenAddress, "Sender.AllowPrivateNetworks"},
		{"empty keyring", true, Endpoint{ID: "ep", URL: srv.URL}, "msg_1", ErrNoKeys, "no usable key"},
		{"expired keys", true, Endpoint{ID: "ep", URL: srv.URL, Keys: expired}, "msg_1", ErrNoKeys, "no usable key"},
		{"invalid id", true, Endpoint{ID: "ep", URL: srv.URL, Keys: Secrets(secret)}, "order 1", ErrInvalidID, `"order 1"`},
		{"not http", true, Endpoint{ID: "ep", URL: "ftp://example.com/hook", Keys: Secrets(secret)}, "msg_1", nil, "absolute http or https"},
		{"not a URL", true, Endpoint{ID: "ep", URL: "http://[::1", Keys: Secrets(secret)}, "msg_1", nil, "endpoint \"ep\""},
	}
	t.Run("cases", func(t *testing.T) { // ends when its parallel subtests have
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				// The default schedule would retry for 27 hours; the deadline
				// only guards against a hang.
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				defer cancel()
				s := &Sender{AllowPrivateNetworks: tc.private}
				defer s.CloseIdleConnections()
				attempts, err := s.Send(ctx, &tc.ep, Delivery{ID: tc.id, Body: []byte(`{}`)})
				require.Error(t, err)
				assert.NotErrorIs(t, err, context.DeadlineExceeded)
				assert.NotErrorIs(t, err, ErrExhausted)
				if tc.err != nil {
					assert.ErrorIs(t, err, tc.err)
				}
				assert.Contains(t, err.Error(), tc.message)
				require.Len(t, attempts, 1)
				assert.False(t, attempts[0].OK())
				assert.Zero(t, attempts[0].Next)
				assert.Equal(t, err.Error(), attempts[0].Error)
			})
		}
	})
	assert.Zero(t, hits.Load(), "nothing reached the endpoint")
}

// TestSenderStatusError checks the StatusError of a refused attempt: the
// fields every package's StatusError has, read from the endpoint's answer,
// while the Attempt keeps MaxResponseBytes of the body.
func TestSenderStatusError(t *testing.T) {
	t.Parallel()
	answer := func(code int, body string, hdr ...string) func(*http.Request) (*http.Response, error) {
		return func(r *http.Request) (*http.Response, error) {
			h := http.Header{}
			for i := 0; i+1 < len(hdr); i += 2 {
				h.Set(hdr[i], hdr[i+1])
			}
			return &http.Response{StatusCode: code, Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
		}
	}
	long := strings.Repeat("x", 3000)
	tests := []struct {
		name     string
		resp     func(*http.Request) (*http.Response, error)
		maxResp  int
		want     StatusError
		text     string
		response string
		temp     bool
	}{
		{
			name: "json error body", maxResp: 8,
			resp:     answer(503, `{"error":"maintenance","message":"back  in\nan hour"}`, "Retry-After", "7200"),
			want:     StatusError{StatusCode: 503, Code: "maintenance", Message: "back in an hour", RetryAfter: time.Hour},
			text:     "webhook: server answered 503 Service Unavailable (maintenance): back in an hour",
			response: `{"error"`, temp: true,
		},
		{
			name: "text body, no response kept", maxResp: -1,
			resp: answer(400, "bad\tpayload\n"),
			want: StatusError{StatusCode: 400, Message: "bad payload"},
			text: "webhook: server answered 400 Bad Request: bad payload",
			temp: true,
		},
		{
			name: "long body", resp: answer(500, long),
			want:     StatusError{StatusCode: 500, Message: long[:200]},
			text:     "webhook: server answered 500 Internal Server Error: " + long[:200],
			response: long[:DefaultMaxResponseBytes], temp: true,
		},
		{
			name: "gone", resp: answer(410, ""),
			want: StatusError{StatusCode: 410},
			text: "webhook: server answered 410 Gone",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &Sender{Client: &http.Client{Transport: &script{responses: []func(*http.Request) (*http.Response, error){tc.resp}}},
				MaxResponseBytes: tc.maxResp, Schedule: []time.Duration{}}
			attempts, err := s.Send(t.Context(), testEndpoint(t), Delivery{ID: "msg_1", Body: []byte(`{}`)})
			var se *StatusError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.want, *se)
			assert.Equal(t, tc.text, se.Error())
			assert.Equal(t, tc.temp, se.Temporary())
			require.Len(t, attempts, 1)
			assert.Equal(t, tc.response, string(attempts[0].Response))
			assert.Contains(t, attempts[0].Error, tc.text)
		})
	}
}
