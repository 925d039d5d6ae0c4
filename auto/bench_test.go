package auto_test

import (
	"context"
	"testing"
	"time"

	"github.com/pushpull/pushpull/auto/autotest"
)

// BenchmarkSwitch measures what each fault costs the Go client, with the
// rig's settings (ConnectTimeout 1 s, ProbeInterval 300 ms, ProbeTimeout
// 700 ms): the time from Subscribe to the first message published right
// after it, and for "stall" the time from the moment the WebSocket goes
// silent to the next message.
//
//	go test -run '^$' -bench Switch -benchtime 5x ./auto
func BenchmarkSwitch(b *testing.B) {
	cases := []struct {
		name   string
		faults autotest.Fault
		stall  bool
	}{
		{name: "none"},
		{name: "refused", faults: autotest.RefuseWebSocket},
		{name: "silent", faults: autotest.MuteWebSocket},
		{name: "bufferedSSE", faults: autotest.RefuseWebSocket | autotest.BufferSSE},
		{name: "stall", stall: true},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				b.StopTimer()
				r := newRig(b, bc.faults, 1000)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				b.StartTimer()
				start := time.Now()
				sub, err := r.client.Subscribe(ctx, "t", "")
				if err != nil {
					b.Fatal(err)
				}
				if bc.stall {
					r.publish(b, 1)
					<-sub.C()
					start = time.Now()
					r.proxy.SetFaults(autotest.MuteWebSocket)
				}
				r.publish(b, 1)
				if _, ok := <-sub.C(); !ok {
					b.Fatal(sub.Err())
				}
				total += time.Since(start)
				b.StopTimer()
				sub.Close()
				cancel()
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/first-message")
		})
	}
}
