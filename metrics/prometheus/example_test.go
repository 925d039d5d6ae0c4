package prometheus_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics"
	"github.com/pushpull/pushpull/metrics/prometheus"
)

// Serve a broker's metrics on /metrics.
func Example() {
	rec := &prometheus.Recorder{TopicClass: metrics.Prefixes("orders.")}
	reg := prom.NewRegistry()
	reg.MustRegister(rec)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	ctx := context.Background()
	b := &bus.Memory{Metrics: rec}
	defer b.Close()
	sub, _ := b.Subscribe(ctx, "orders.42", "")
	_, _ = b.Publish(ctx, "orders.42", bus.Message{Data: []byte("hi")})
	<-sub.C()
	_ = sub.Close()

	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, "pushpull_bus_deliveries_total") || strings.HasPrefix(line, "pushpull_bus_subscriptions_ended_total") {
			fmt.Print(line)
		}
	}
	// Output:
	// pushpull_bus_deliveries_total{broker="memory",path="live",topic_class="orders."} 1
	// pushpull_bus_subscriptions_ended_total{broker="memory",reason="closed",topic_class="orders."} 1
}
