package names_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/examples/internal/names"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestAuth: a valid name is its identity, with the grants given; a bad
// one, or none, is refused as unauthenticated.
func TestAuth(t *testing.T) {
	a := names.Auth([]string{"chat/*"}, []string{"chat/lobby"})
	for _, tc := range []struct {
		target, header string
		subject        string
	}{
		{"/", "Bearer ann", "ann"},
		{"/?access_token=bob.b", "", "bob.b"},
		{"/", "Bearer " + strings.Repeat("x", 25), ""},
		{"/", "Bearer a b", ""},
		{"/", "", ""},
	} {
		r := httptest.NewRequest("GET", tc.target, nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		id, err := a.Authenticate(r)
		if tc.subject == "" {
			if !errors.Is(err, auth.ErrUnauthenticated) {
				t.Errorf("%s %q: got %v, want unauthenticated", tc.target, tc.header, err)
			}
			continue
		}
		if err != nil || id.Subject != tc.subject {
			t.Fatalf("%s %q: got %v, %v", tc.target, tc.header, id, err)
		}
		if !id.Allows(auth.Subscribe, "chat/random") || id.Allows(auth.Publish, "chat/random") || !id.Allows(auth.Publish, "chat/lobby") {
			t.Errorf("%s: grants %v %v", tc.subject, id.Subscribe, id.Publish)
		}
	}
}

func ExampleAuth() {
	a := names.Auth([]string{"chat"}, nil)
	r := httptest.NewRequest("GET", "/?access_token=ann", nil)
	id, err := a.Authenticate(r)
	fmt.Println(id.Subject, err, id.Allows(auth.Subscribe, "chat"), id.Allows(auth.Publish, "chat"))
	// Output: ann <nil> true false
}

// TestSignPost: the name is the publisher's, whatever the client said; a
// message that is not a post is invalid.
func TestSignPost(t *testing.T) {
	id := &auth.Identity{Subject: "ann"}
	m := bus.Message{Data: []byte(`{"name":"bob","text":"hi"}`)}
	if err := names.SignPost(context.Background(), id, &m); err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != `{"name":"ann","text":"hi"}` || m.Meta["sender"] != "ann" {
		t.Errorf("got %s %v", m.Data, m.Meta)
	}
	for _, data := range []string{"hi", `{"name":"ann"}`, ""} {
		m := bus.Message{Data: []byte(data)}
		if err := names.SignPost(context.Background(), id, &m); !errors.Is(err, bus.ErrInvalidMessage) {
			t.Errorf("%q: got %v, want ErrInvalidMessage", data, err)
		}
	}
}

// FuzzSignPost: whatever the data, SignPost never panics, and what it
// accepts is a post in the publisher's name.
func FuzzSignPost(f *testing.F) {
	for _, seed := range []string{`{"name":"bob","text":"hi"}`, `{"text":""}`, `[]`, `{"text":1}`, "\xff"} {
		f.Add(seed)
	}
	id := &auth.Identity{Subject: "ann"}
	f.Fuzz(func(t *testing.T, data string) {
		m := bus.Message{Data: []byte(data)}
		if err := names.SignPost(context.Background(), id, &m); err != nil {
			if !errors.Is(err, bus.ErrInvalidMessage) {
				t.Fatalf("%q: %v", data, err)
			}
			return
		}
		var p names.Post
		if err := json.Unmarshal(m.Data, &p); err != nil || p.Name != "ann" || p.Text == "" || m.Meta["sender"] != "ann" {
			t.Fatalf("%q: got %s %v", data, m.Data, m.Meta)
		}
	})
}
