package jwt_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"
	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/auth/jwt"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/longpoll"
	"github.com/pushpull/pushpull/poll"
	"github.com/pushpull/pushpull/sse"
	"github.com/pushpull/pushpull/ws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Real signed tokens on every transport, in the header, the query or a
// cookie: only a valid token for a granted topic gets through.
func TestTransportsWithTokens(t *testing.T) {
	ss := testSigners(t)
	es := ss[jwt.ES256]
	v := staticVerifier(t)
	a := &auth.Bearer{Verify: v.Verify, Cookie: "pp", Query: "access_token"}
	good := claims([]string{"user/alice/*"}, []string{"user/alice/*"})
	bad := func(k string, val any) string {
		c := claims([]string{"user/alice/*"}, nil)
		c[k] = val
		return sign(t, es, "", c)
	}
	valid := sign(t, es, "", good)
	forged := valid[:len(valid)-4] + "AAAA"

	b := &bus.Memory{}
	defer b.Close()
	wsh := &ws.Handler{Broker: b, Auth: a}
	mux := http.NewServeMux()
	mux.Handle("/poll/{topic...}", &poll.Handler{Broker: b, Auth: a})
	mux.Handle("/longpoll/{topic...}", &longpoll.Handler{Broker: b, Auth: a})
	mux.Handle("/sse/{topic...}", &sse.Handler{Broker: b, Auth: a})
	mux.Handle("/ws", wsh)
	srv := httptest.NewServer(mux)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		wsh.Shutdown(ctx)
		srv.Close()
	}()

	type cred struct {
		name  string
		apply func(r *http.Request, tok string)
	}
	creds := []cred{
		{"header", func(r *http.Request, tok string) { r.Header.Set("Authorization", "Bearer "+tok) }},
		{"query", func(r *http.Request, tok string) { r.URL.RawQuery += "&access_token=" + tok }},
		{"cookie", func(r *http.Request, tok string) { r.AddCookie(&http.Cookie{Name: "pp", Value: tok}) }},
	}
	tokens := []struct {
		name, token, topic string
		want               int
	}{
		{"valid", valid, "user/alice/inbox", 200},
		{"outside the claim", valid, "user/bob/inbox", 403},
		{"expired", bad("exp", time.Now().Add(-time.Minute).Unix()), "user/alice/inbox", 401},
		{"not yet valid", bad("nbf", time.Now().Add(time.Minute).Unix()), "user/alice/inbox", 401},
		{"wrong audience", bad("aud", "other"), "user/alice/inbox", 401},
		{"forged", forged, "user/alice/inbox", 401},
		{"none", noneToken(good), "user/alice/inbox", 401},
		{"HS256 with the ES256 key's bytes", sign(t, signer{jwtlib.SigningMethodHS256, []byte(fmt.Sprint(es.pub)), nil}, "", good), "user/alice/inbox", 401},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, transport := range []string{"poll", "longpoll", "sse"} {
		for _, c := range creds {
			for _, tk := range tokens {
				req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/"+transport+"/"+tk.topic+"?timeout=0", nil)
				if transport == "sse" {
					req.Method = "HEAD" // the head of the stream, and no stream
				}
				c.apply(req, tk.token)
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				resp.Body.Close()
				assert.Equal(t, tk.want, resp.StatusCode, "%s, token in the %s, %s", transport, c.name, tk.name)
			}
		}
	}
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	for _, tk := range tokens {
		cl := &ws.Client{URL: wsURL + "?access_token=" + tk.token}
		err := cl.Connect(ctx)
		if tk.want == 401 {
			var se *ws.StatusError
			require.True(t, errors.As(err, &se), "ws, %s: %v", tk.name, err)
			assert.Equal(t, 401, se.StatusCode, "ws, %s", tk.name)
			assert.NotEmpty(t, se.Message)
			cl.Close()
			continue
		}
		require.NoError(t, err, tk.name)
		_, err = cl.Subscribe(ctx, tk.topic, "")
		if tk.want == 403 {
			assert.ErrorIs(t, err, ws.ErrForbidden, "ws, %s", tk.name)
		} else {
			assert.NoError(t, err, "ws, %s", tk.name)
		}
		cl.Close()
	}
	// The reason of a 401 reaches the client.
	_, err := (&poll.Client{URL: srv.URL + "/poll/{topic}?access_token=" + tokens[2].token}).Subscribe(ctx, "user/alice/inbox", "")
	var pe *poll.StatusError
	require.True(t, errors.As(err, &pe), "%v", err)
	assert.Equal(t, 401, pe.StatusCode)
	assert.Equal(t, "unauthorized", pe.Code)
	assert.Contains(t, pe.Message, "token expired")
	resp, err := http.Get(srv.URL + "/poll/user/alice/inbox?access_token=" + tokens[2].token)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, `Bearer realm="pushpull", error="invalid_token"`, resp.Header.Get("WWW-Authenticate"))
}
