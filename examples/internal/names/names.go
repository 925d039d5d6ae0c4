// Package names is the examples' stand-in for real credentials: the bearer
// token is the name the reader picked. It lets a demo show identities,
// per-topic grants and presence without a login; a real app verifies a
// signed token instead (module auth/jwt). SignPost makes the chats'
// messages carry their sender's name as the server knows it.
package names

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/bus"
)

// valid is what a name may be.
var valid = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,24}$`)

// Query is the query parameter the token may come in, as the browser
// clients send it over WebSocket, whose browser API cannot set headers.
const Query = "access_token"

// Auth returns an Authorizer whose tokens are names: a valid name is the
// identity of that subject, allowed to subscribe to the subscribe patterns
// and to publish on the publish ones; anything else is refused with 401.
func Auth(subscribe, publish []string) *auth.Bearer {
	return &auth.Bearer{
		Query: Query,
		Verify: func(_ context.Context, token string) (*auth.Identity, error) {
			if !valid.MatchString(token) {
				return nil, fmt.Errorf("%w: a name is 1 to 24 letters, digits, '.', '_' or '-'", auth.ErrUnauthenticated)
			}
			return &auth.Identity{Subject: token, Subscribe: subscribe, Publish: publish}, nil
		},
	}
}

// Post is a chat message as the examples' pages publish it.
type Post struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// SignPost is an OnPublish hook (auto.Handler, ws.Handler) for Posts: it
// sets the message's sender, as the server knows it, in the meta field
// "sender" (auth.Stamp) and in the Post's Name, over whatever the client
// put there, so no transport shows a forged name (SSE carries no meta).
// Data that is not a Post with a Text is refused with an error wrapping
// bus.ErrInvalidMessage (400).
func SignPost(_ context.Context, id *auth.Identity, m *bus.Message) error {
	var p Post
	if err := json.Unmarshal(m.Data, &p); err != nil || p.Text == "" {
		return fmt.Errorf(`%w: a post is {"name": …, "text": …}`, bus.ErrInvalidMessage)
	}
	p.Name = id.Subject
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	m.Data = data
	return auth.Stamp(m, "sender", id)
}
