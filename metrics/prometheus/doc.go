// Package prometheus exports pushpull's metrics to Prometheus: a Recorder
// that the handlers, clients and brokers report to (as their Metrics
// field) and that registers as a prometheus.Collector.
//
// It lives in a module of its own, so that only the programs that use it
// depend on prometheus/client_golang.
//
// # Metrics
//
// Every metric is named "pushpull_<name>" (see Recorder.Namespace); each
// comes from the events of the Kinds listed, as metrics.Instruments
// defines. Labels: transport (poll, longpoll, sse, ws, webhook; clients
// add "-client"), broker (memory, redis, nats, postgres), topic_class (the
// Recorder's TopicClass of the topic: "all" unless one is set), reason,
// outcome, path, state, op, and status_class (1xx-5xx, or none).
//
// Transports:
//
//	connections_opened_total{transport}              counter   ConnOpened
//	connections_closed_total{transport,reason}       counter   ConnClosed
//	connections_active{transport}                    gauge     ConnOpened +1, ConnClosed -1
//	connection_duration_seconds{transport}           histogram ConnClosed (lifetime)
//	deliveries_total{transport,topic_class}          counter   Delivered (messages)
//	delivered_bytes_total{transport,topic_class}     counter   Delivered (bytes)
//	refusals_total{transport,topic_class,reason}     counter   Refused
//	resets_total{transport,topic_class}              counter   Reset
//	lag_messages{transport}                          histogram Lag
//	queue_depth{transport}                           gauge     QueueDepth
//	cursor_store_errors_total{transport,op}          counter   CursorStoreError
//
// Brokers:
//
//	bus_publishes_total{broker,topic_class,outcome}          counter   BusPublished
//	bus_publish_seconds{broker}                              histogram BusPublished (latency)
//	bus_subscribers{broker,topic_class}                      gauge     BusSubscribed +1, BusUnsubscribed -1
//	bus_subscriptions_ended_total{broker,topic_class,reason} counter   BusUnsubscribed (slow = cut, expired)
//	bus_deliveries_total{broker,topic_class,path}            counter   BusDelivered (live, history)
//	bus_catchups_total{broker,topic_class,reason}            counter   BusCatchUp (join, full, gap, resync)
//	bus_lag_messages{broker}                                 histogram BusCatchUp (messages behind)
//	bus_cursor_expired_total{broker,topic_class,op}          counter   BusCursorExpired (subscribe, read, stream)
//	broker_round_trips_total{broker,op,outcome}              counter   BrokerRoundTrip
//	broker_round_trip_seconds{broker,op}                     histogram BrokerRoundTrip (latency)
//	broker_errors_total{broker,op}                           counter   BrokerError
//
// Webhooks:
//
//	webhook_attempts_total{topic_class,outcome,status_class} counter   WebhookAttempt
//	webhook_attempt_seconds{status_class}                    histogram WebhookAttempt (latency)
//	webhook_retries_total{topic_class}                       counter   WebhookRetry
//	webhook_dead_letters_total{topic_class}                  counter   WebhookDeadLetter
//	webhook_breaker_transitions_total{state}                 counter   WebhookBreaker
//	webhook_breakers_open                                    gauge     WebhookBreaker (+1 opened, -1 closed)
//	webhook_endpoints_disabled_total{reason}                 counter   WebhookDisabled
//
// Series appear once first updated.
package prometheus
