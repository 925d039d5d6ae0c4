// Package health serves a readiness endpoint: a Handler runs Checks (the
// broker's connectivity, the state of a webhook Dispatcher, or any check of
// the application's own) and answers 200 with a JSON report when all pass,
// 503 Service Unavailable with the same report when one does not:
//
//	mux.Handle("GET /healthz", &health.Handler{Checks: []health.Check{
//		health.Broker("bus", broker),
//		{Name: "webhooks", Run: (&health.Webhooks{Dispatcher: d}).Run},
//	}})
//
// The body lists every check with its outcome and detail:
//
//	{"status":"not ready","checks":[
//	  {"name":"bus","ready":false,"error":"pgbus: ping: ..."},
//	  {"name":"webhooks","ready":true,"detail":{"endpoints":2,"running":2,"stalled":0,"dead_letters":0}}]}
//
// Brokers take part through the optional bus.Pinger interface, which
// bus.Memory (always ready until closed), natsbus, pgbus and redisbus
// implement by a round trip to their server.
//
// It is a package of its own, not part of package metrics, because it
// depends on what it checks (bus, webhook) and answers HTTP, while metrics
// needs nothing but the standard library and is imported by everything.
package health
