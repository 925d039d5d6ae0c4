package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pushpull/pushpull/webhook"
	"github.com/pushpull/pushpull/webhook/admin"
)

// BenchmarkDeliveries measures GET /endpoints/{id}/deliveries, the
// portal's request, over an attempt log of 1,000 deliveries of 3 attempts
// each in a MemoryStore, with Bearer authorization.
func BenchmarkDeliveries(b *testing.B) {
	store := storeWithEP1(b)
	ctx := context.Background()
	start := time.Now().Add(-time.Hour)
	for i := range 1000 {
		for n := 1; n <= 3; n++ {
			a := webhook.Attempt{Delivery: fmt.Sprintf("msg_%04d", i), Endpoint: "ep1", N: n, At: start.Add(time.Duration(3*i+n) * time.Millisecond),
				Status: 500, Error: "webhook: server answered 500", Response: []byte("down")}
			if n == 3 {
				a.Status, a.Error, a.Response = 200, "", []byte("ok")
			}
			if err := store.AddAttempt(ctx, a); err != nil {
				b.Fatal(err)
			}
		}
	}
	benchGet(b, &admin.Handler{Store: store, Auth: testAuth()}, "/endpoints/ep1/deliveries?limit=50")
}

// BenchmarkGetEndpoint measures GET /endpoints/{id} with Bearer
// authorization.
func BenchmarkGetEndpoint(b *testing.B) {
	store := storeWithEP1(b)
	benchGet(b, &admin.Handler{Store: store, Auth: testAuth()}, "/endpoints/ep1")
}

// benchGet measures GET path on h with the token of ep1.
func benchGet(b *testing.B, h *admin.Handler, path string) {
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Authorization", "Bearer "+tokEP1)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code, rec.Body)
		}
	}
}
