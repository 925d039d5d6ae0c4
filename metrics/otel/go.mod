module github.com/pushpull/pushpull/metrics/otel

go 1.26.0

require (
	github.com/pushpull/pushpull v0.0.0
	github.com/stretchr/testify v1.12.1
	go.opentelemetry.io/otel v1.47.0
	go.opentelemetry.io/otel/metric v1.47.0
	go.opentelemetry.io/otel/sdk/metric v1.47.0
	go.uber.org/goleak v1.3.0
)

replace github.com/pushpull/pushpull => ../../
