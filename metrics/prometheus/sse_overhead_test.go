package prometheus_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	prom "github.com/prometheus/client_golang/prometheus"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics/prometheus"
	"github.com/pushpull/pushpull/sse"
	"github.com/pushpull/pushpull/testnet"
)

// BenchmarkSSEMetricsOverhead fans each publish out to 100 SSE streams of
// one sse.Handler over loopback, without a Recorder and with this one
// (on the handler only: the broker's share is BenchmarkMetricsOverhead's),
// alternating, and reports the process's CPU time per delivery to one
// stream (cpu-ns/delivery), server and readers together.
//
//	go test -run '^$' -bench SSEMetricsOverhead -count 8 . > f.txt
//	benchstat -col /metrics -filter '.unit:cpu-ns/delivery' f.txt
func BenchmarkSSEMetricsOverhead(b *testing.B) {
	const streams = 100
	for _, on := range []bool{false, true} {
		name := "metrics=off"
		if on {
			name = "metrics=prometheus"
		}
		b.Run(fmt.Sprintf("streams=%d/%s", streams, name), func(b *testing.B) {
			br := &bus.Memory{}
			defer br.Close()
			h := &sse.Handler{Broker: br}
			if on {
				rec := &prometheus.Recorder{}
				prom.NewRegistry().MustRegister(rec)
				h.Metrics = rec
			}
			benchSSEFanOut(b, br, h, streams)
		})
	}
}

// benchSSEFanOut opens n streams of h, each read by a goroutine that counts
// the events, and publishes b.N messages, each once every stream has the
// one before.
func benchSSEFanOut(b *testing.B, br bus.Broker, h *sse.Handler, n int) {
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer cancel()
	var got, open, readers sync.WaitGroup
	open.Add(n)
	for range n {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/?topic=fan", nil)
		if err != nil {
			b.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			defer resp.Body.Close()
			r := bufio.NewReaderSize(resp.Body, 4096)
			first := true
			for {
				line, err := r.ReadSlice('\n')
				if err != nil {
					return
				}
				if first {
					first = false
					open.Done() // the prelude's first line
				}
				if bytes.HasPrefix(line, []byte("data:")) {
					got.Done()
				}
			}
		}()
	}
	open.Wait()
	data := bytes.Repeat([]byte("x"), 64)
	b.ReportAllocs()
	start := testnet.CPUTime()
	b.ResetTimer()
	for range b.N {
		got.Add(n)
		if _, err := br.Publish(ctx, "fan", bus.Message{Data: data}); err != nil {
			b.Fatal(err)
		}
		got.Wait()
	}
	b.StopTimer()
	b.ReportMetric(float64(testnet.CPUTime()-start)/float64(b.N*n), "cpu-ns/delivery")
	cancel()
	srv.CloseClientConnections()
	readers.Wait()
	_ = h.Shutdown(context.Background())
}
