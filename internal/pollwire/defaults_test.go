package pollwire

import (
	"context"
	"github.com/pushpull/pushpull/metrics"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewEndpointDefaults(t *testing.T) {
	t.Parallel()
	ep := NewEndpoint("poll", "http://h/", nil, nil, 0, 99, nil)
	assert.Equal(t, &Endpoint{Base: "http://h/", MaxBody: 99, Prefix: "poll"}, ep)
	assert.EqualValues(t, 7, NewEndpoint("poll", "http://h/", nil, nil, 7, 99, nil).MaxBody)
}

// idle answers every request at once with nothing new.
type idle struct{}

func (idle) Fetch(context.Context, string, string, bool) (Answer, error) {
	return Answer{Batch: Batch{Cursor: "1-0"}}, nil
}
func (idle) Delay(Answer) time.Duration { return time.Hour }
func (idle) BackOff() backoff.BackOff   { return &backoff.ZeroBackOff{} }
func (idle) Prefix() string             { return "test" }

func (idle) Metrics() metrics.Recorder { return nil }

func TestSubscribeBuffer(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ buffer, want int }{{0, 5}, {-1, 5}, {3, 3}} {
		s, err := Subscribe(t.Context(), idle{}, "t", "", tt.buffer, 5)
		require.NoError(t, err)
		assert.Equal(t, tt.want, cap(s.C()), "buffer %d", tt.buffer)
		require.NoError(t, s.Close())
	}
}
