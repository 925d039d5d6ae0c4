package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/webhook"
	"github.com/pushpull/pushpull/webhook/admin"
)

// An operator creates an endpoint and gets its secret once; the
// consumer's token, scoped to its endpoint, reads it but cannot list the
// others.
func ExampleHandler() {
	store := webhook.NewMemoryStore()
	tokens := map[string]*auth.Identity{
		"op-token":   {Subject: "ops", Subscribe: []string{"webhooks/*"}, Publish: []string{"webhooks/*"}},
		"shop-token": {Subject: "shop", Subscribe: []string{"webhooks/shop"}, Publish: []string{"webhooks/shop"}},
	}
	h := &admin.Handler{Store: store, Auth: &auth.Bearer{Verify: func(_ context.Context, tok string) (*auth.Identity, error) {
		if id, ok := tokens[tok]; ok {
			return id, nil
		}
		return nil, auth.ErrUnauthenticated
	}}}
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", h))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	call := func(method, path, token, body string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+"/admin"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		return res
	}

	res := call("POST", "/endpoints", "op-token", `{"id":"shop","url":"https://shop.example/hooks","topic":"orders"}`)
	var ep admin.Endpoint
	_ = json.NewDecoder(res.Body).Decode(&ep)
	res.Body.Close()
	fmt.Println(res.Status, res.Header.Get("ETag"), strings.HasPrefix(ep.Secret, "whsec_"))

	res = call("GET", "/endpoints/shop", "shop-token", "")
	ep = admin.Endpoint{}
	_ = json.NewDecoder(res.Body).Decode(&ep)
	res.Body.Close()
	fmt.Println(res.Status, ep.URL, ep.Secret == "")

	res = call("GET", "/endpoints", "shop-token", "")
	var e admin.ErrorBody
	_ = json.NewDecoder(res.Body).Decode(&e)
	res.Body.Close()
	fmt.Println(res.Status, e.Error.Code)
	// Output:
	// 201 Created "1" true
	// 200 OK https://shop.example/hooks true
	// 403 Forbidden forbidden
}

// A replay of the history asked with Prefer: respond-async is answered
// 202 at once; its operation tells how it goes until it has ended.
func ExampleHandler_operation() {
	consumer := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer consumer.Close()
	b := &bus.Memory{}
	defer b.Close()
	store := webhook.NewMemoryStore()
	d := &webhook.Dispatcher{Broker: b, Store: store, Sender: &webhook.Sender{AllowPrivateNetworks: true}}
	h := &admin.Handler{Dispatcher: d, Store: store} // open: put it behind your authentication
	defer h.Close()
	srv := httptest.NewServer(http.StripPrefix("/admin", h))
	defer srv.Close()

	ctx := context.Background()
	_, _ = store.PutEndpoint(ctx, webhook.EndpointConfig{ID: "shop", URL: consumer.URL, Topic: "orders",
		Secrets: []webhook.SecretConfig{{Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}})
	for range 3 {
		_, _ = b.Publish(ctx, "orders", bus.Message{Type: "order.paid", Data: []byte(`{}`)})
	}

	req, _ := http.NewRequest("POST", srv.URL+"/admin/endpoints/shop/replay", strings.NewReader(`{"from":"0"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Prefer", "respond-async")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	var op admin.Operation
	_ = json.NewDecoder(res.Body).Decode(&op)
	res.Body.Close()
	fmt.Println(res.Status, res.Header.Get("Location") == "operations/"+op.ID, op.Kind)

	for op.State == admin.OpRunning {
		time.Sleep(10 * time.Millisecond)
		res, err := http.Get(srv.URL + "/admin/endpoints/shop/operations/" + op.ID)
		if err != nil {
			panic(err)
		}
		_ = json.NewDecoder(res.Body).Decode(&op)
		res.Body.Close()
	}
	fmt.Println(op.State, op.Delivered)
	// Output:
	// 202 Accepted true replay
	// succeeded 3
}
