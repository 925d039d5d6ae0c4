package retry

import (
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
