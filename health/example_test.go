package health_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"

	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/health"
)

func ExampleHandler() {
	b := &bus.Memory{}
	defer b.Close()
	h := &health.Handler{Checks: []health.Check{
		health.Broker("bus", b),
		{Name: "disk", Run: func(context.Context) (any, error) { return "97% full", errors.New("disk almost full") }},
	}}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
	fmt.Print(w.Code, " ", w.Body.String())
	// Output:
	// 503 {"status":"not ready","checks":[{"name":"bus","ready":true},{"name":"disk","ready":false,"error":"disk almost full","detail":"97% full"}]}
}
