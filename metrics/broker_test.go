package metrics_test

import (
	"errors"
	"testing"

	"github.com/pushpull/pushpull/metrics"
)

func TestBroker(t *testing.T) {
	var got []metrics.Event
	b := metrics.Broker{Recorder: metrics.RecorderFunc(func(e metrics.Event) { got = append(got, e) }), Name: "x"}
	start := b.Start()
	if start.IsZero() {
		t.Fatal("Start read no clock with a Recorder")
	}
	b.Published("t", start, 3, nil)
	b.Published("t", start, 3, errors.New("down"))
	b.RoundTrip("get", start, nil)
	b.CursorExpired("read", "t")
	b.Error("feed")
	want := []struct {
		kind    metrics.Kind
		outcome string
	}{{metrics.BusPublished, metrics.OutcomeOK}, {metrics.BusPublished, metrics.OutcomeError}, {metrics.BrokerRoundTrip, metrics.OutcomeOK}, {metrics.BusCursorExpired, ""}, {metrics.BrokerError, ""}}
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Kind != w.kind || got[i].Outcome != w.outcome || got[i].Transport != "x" {
			t.Errorf("event %d = %+v, want kind %v outcome %q", i, got[i], w.kind, w.outcome)
		}
	}
	if got[0].Bytes != 3 || got[0].Topic != "t" {
		t.Errorf("published event %+v", got[0])
	}
	var none metrics.Broker
	if !none.Start().IsZero() {
		t.Error("Start read the clock without a Recorder")
	}
	if n := testing.AllocsPerRun(100, func() { none.Published("t", none.Start(), 1, nil); none.RoundTrip("get", none.Start(), nil) }); n != 0 {
		t.Errorf("%v allocations without a Recorder", n)
	}
}
