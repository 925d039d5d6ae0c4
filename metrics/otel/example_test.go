package otel_test

import (
	"context"
	"fmt"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/metrics/otel"
)

// Record a broker's metrics through an OpenTelemetry MeterProvider.
func Example() {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())
	rec := &otel.Recorder{Meter: provider.Meter("example")}

	ctx := context.Background()
	b := &bus.Memory{Metrics: rec}
	defer b.Close()
	sub, _ := b.Subscribe(ctx, "orders.42", "")
	for range 3 {
		_, _ = b.Publish(ctx, "orders.42", bus.Message{Data: []byte("hi")})
		<-sub.C()
	}

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(ctx, &rm)
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if m.Name == "pushpull.bus_deliveries" {
			dp := m.Data.(metricdata.Sum[int64]).DataPoints[0]
			path, _ := dp.Attributes.Value("path")
			fmt.Println(m.Name, path.AsString(), dp.Value)
		}
	}
	// Output:
	// pushpull.bus_deliveries live 3
}
