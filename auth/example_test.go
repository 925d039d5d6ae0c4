package auth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/poll"
)

// A public endpoint: anyone may read the topic "prices" and the topics
// under "news/", nothing else, and nobody may publish.
func ExamplePublic() {
	b := bus.NewMemory()
	defer b.Close()
	h := &poll.Handler{Broker: b, Auth: auth.Public{Subscribe: []string{"prices", "news/*"}}}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, topic := range []string{"prices", "news/today", "payroll"} {
		resp, err := http.Get(srv.URL + "?topic=" + topic)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(topic, resp.StatusCode)
	}
	// Output:
	// prices 200
	// news/today 200
	// payroll 403
}

// Bearer tokens, checked by a function of yours (auth/jwt has one for
// JWTs): no token is 401, a token that does not grant the topic 403.
func ExampleBearer() {
	keys := map[string]*auth.Identity{
		"k-alice": {Subject: "alice", Subscribe: []string{"user/alice/*"}},
	}
	a := &auth.Bearer{
		Query: "access_token",
		Verify: func(_ context.Context, tok string) (*auth.Identity, error) {
			if id, ok := keys[tok]; ok {
				return id, nil
			}
			return nil, fmt.Errorf("%w: unknown key", auth.ErrUnauthenticated)
		},
	}
	b := bus.NewMemory()
	defer b.Close()
	srv := httptest.NewServer(&poll.Handler{Broker: b, Auth: a})
	defer srv.Close()
	for _, q := range []string{
		"topic=user/alice/inbox",
		"topic=user/alice/inbox&access_token=nope",
		"topic=user/alice/inbox&access_token=k-alice",
		"topic=user/bob/inbox&access_token=k-alice",
	} {
		resp, err := http.Get(srv.URL + "?" + q)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	// Output:
	// 401
	// 401
	// 200
	// 403
}

// The identity a Handler found is in the request's context, so the
// handlers' own Authorize hooks can use it.
func ExampleFromContext() {
	a := auth.Public{Subscribe: []string{"*"}}
	r := httptest.NewRequest("GET", "/", nil)
	r, _, _ = auth.Authenticate(a, r)
	id, ok := auth.FromContext(r.Context())
	fmt.Println(ok, id.Subject == "", id.Expired(time.Now()))
	// Output: true true false
}
