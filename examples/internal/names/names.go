// Package names is the examples' stand-in for real credentials: the bearer
// token is the name the reader picked. It lets a demo show identities,
// per-topic grants and presence without a login; a real app verifies a
// signed token instead (module auth/jwt).
package names

import (
	"context"
	"fmt"
	"regexp"

	"github.com/pushpull/pushpull/auth"
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
