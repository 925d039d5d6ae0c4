package poll_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire/pollwiretest"
	"github.com/pushpull/pushpull/poll"
	"github.com/pushpull/pushpull/testnet"
)

// No gap and no duplicate across 10,000 messages while a fifth of the
// requests are cut, before or in the middle of their answer.
func TestClientNoGapNoDuplicateUnderCuts(t *testing.T) {
	t.Parallel()
	b := &bus.Memory{HistorySize: 2 * pollwiretest.CutMessages}
	t.Cleanup(func() { b.Close() })
	cut := &testnet.Cutter{Handler: &poll.Handler{Broker: b, Interval: time.Millisecond}, Rate: 0.2, Seed: 4}
	srv := httptest.NewServer(cut)
	t.Cleanup(srv.Close)
	c := &poll.Client{URL: srv.URL, Interval: time.Millisecond, Limit: 50, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
	pollwiretest.CheckNoGapUnderCuts(t, b, c.Subscribe, cut.Cuts,
		pollwiretest.Pace{Every: 100, Pause: time.Millisecond}) // let polls interleave with publishing
}
