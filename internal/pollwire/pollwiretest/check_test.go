package pollwiretest

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/pushpull/pushpull/bus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// failRecorder stands in for a test's testing.TB and notes failures
// instead of failing it; FailNow ends the calling goroutine as the real one
// does.
type failRecorder struct {
	testing.TB
	mu     sync.Mutex
	failed []string
}

func (r *failRecorder) Helper()             {}
func (r *failRecorder) Logf(string, ...any) {}

func (r *failRecorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = append(r.failed, fmt.Sprintf(format, args...))
}

func (r *failRecorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *failRecorder) FailNow() { r.Errorf("FailNow"); runtime.Goexit() }

func (r *failRecorder) failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// altered forwards the messages of a subscription through edit, which
// returns the messages to deliver in place of each one.
type altered struct {
	bus.Subscription
	ch   chan bus.Message
	stop chan struct{}
	done chan struct{}
}

func alter(sub bus.Subscription, edit func(i int, m bus.Message) []bus.Message) *altered {
	a := &altered{Subscription: sub, ch: make(chan bus.Message), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		defer close(a.ch)
		i := 0
		for m := range sub.C() {
			for _, out := range edit(i, m) {
				select {
				case a.ch <- out:
				case <-a.stop:
					return
				}
			}
			i++
		}
	}()
	return a
}

func (a *altered) C() <-chan bus.Message { return a.ch }

func (a *altered) Close() error {
	err := a.Subscription.Close()
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	<-a.done
	return err
}

// CheckNoGapUnderCuts passes a faithful subscription and fails on each
// defect it is there to find.
func TestCheckNoGapUnderCutsCanFail(t *testing.T) {
	t.Parallel()
	keep := func(_ int, m bus.Message) []bus.Message { return []bus.Message{m} }
	tests := []struct {
		name   string
		edit   func(i int, m bus.Message) []bus.Message
		cuts   int
		failed bool
	}{
		{"faithful", keep, 11, false},
		{"no cuts", keep, 10, true},
		{"gap", func(i int, m bus.Message) []bus.Message {
			if i == 5000 {
				return nil
			}
			return []bus.Message{m}
		}, 11, true},
		{"duplicate", func(i int, m bus.Message) []bus.Message {
			if i == 5000 {
				return []bus.Message{m, m}
			}
			return []bus.Message{m}
		}, 11, true},
		{"extra message at the end", func(i int, m bus.Message) []bus.Message {
			if i == CutMessages-1 {
				return []bus.Message{m, m}
			}
			return []bus.Message{m}
		}, 11, true},
		{"out of order", func(i int, m bus.Message) []bus.Message {
			if i == 5000 {
				m.ID = "9-9"
			}
			return []bus.Message{m}
		}, 11, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := &bus.Memory{HistorySize: 2 * CutMessages}
			t.Cleanup(func() { b.Close() })
			subscribe := func(ctx context.Context, topic, after string) (bus.Subscription, error) {
				sub, err := b.Subscribe(ctx, topic, after)
				if err != nil {
					return nil, err
				}
				return alter(sub, tt.edit), nil
			}
			rec := &failRecorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				CheckNoGapUnderCuts(rec, b, subscribe, func() int { return tt.cuts }, Pace{})
			}()
			<-done
			if tt.failed {
				assert.NotEmpty(t, rec.failures())
			} else {
				assert.Empty(t, rec.failures())
			}
		})
	}
}

// CheckSameInstant passes when every message arrives and fails when one of
// the messages stamped with the same instant is lost.
func TestCheckSameInstantCanFail(t *testing.T) {
	t.Parallel()
	for _, drop := range []int{-1, 1} {
		synctest.Test(t, func(t *testing.T) {
			b := &bus.Memory{}
			defer b.Close()
			sub, err := b.Subscribe(t.Context(), "t", "")
			require.NoError(t, err)
			lossy := alter(sub, func(i int, m bus.Message) []bus.Message {
				if i == drop {
					return nil
				}
				return []bus.Message{m}
			})
			defer lossy.Close()
			rec := &failRecorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				CheckSameInstant(rec, b, "t", lossy, 3)
			}()
			<-done
			assert.Equal(t, drop >= 0, len(rec.failures()) > 0, "drop %d: %q", drop, rec.failures())
		})
	}
}
