package jwt_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"
	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/auth/jwt"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/poll"
)

// An HS256 token whose claim grants alice her own topics, sent in the
// Authorization header.
func ExampleVerifier() {
	secret := []byte("a secret of at least thirty-two bytes!")
	v := &jwt.Verifier{Keys: []jwt.Key{{Key: secret}}, Audience: "pushpull"}
	b := bus.NewMemory()
	defer b.Close()
	srv := httptest.NewServer(&poll.Handler{Broker: b, Auth: &auth.Bearer{Verify: v.Verify, Query: "access_token"}})
	defer srv.Close()

	token, err := jwtlib.NewWithClaims(jwtlib.SigningMethodHS256, jwtlib.MapClaims{
		"sub":      "alice",
		"aud":      "pushpull",
		"exp":      time.Now().Add(time.Hour).Unix(),
		"pushpull": map[string]any{"subscribe": []string{"user/alice/*"}},
	}).SignedString(secret)
	if err != nil {
		panic(err)
	}
	for _, topic := range []string{"user/alice/inbox", "user/bob/inbox"} {
		req, _ := http.NewRequest("GET", srv.URL+"?topic="+topic, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(topic, resp.StatusCode)
	}
	// Output:
	// user/alice/inbox 200
	// user/bob/inbox 403
}
