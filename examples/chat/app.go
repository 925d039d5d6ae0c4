package main

import (
	_ "embed"
	"net/http"
	"slices"

	"github.com/pushpull/pushpull/auth/presence"
	"github.com/pushpull/pushpull/auto"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/examples/internal/names"
)

//go:embed index.html
var page []byte

// rooms are the chat's topics; nothing else may be written, and nothing
// else read but their presence topics.
var rooms = []string{"chat/lobby", "chat/random"}

// maxMessage bounds a chat message, JSON included.
const maxMessage = 2 << 10

// chat is the app: the transports under /rt and who is in each room.
type chat struct {
	rt       *auto.Handler
	presence *presence.Memory
}

// newChat serves the rooms on b. The bearer token is the reader's name
// (examples/internal/names): presence.Memory, the Authorizer, is told of
// every live subscription (WebSocket, SSE) and keeps who is in each room,
// announcing joins and leaves on "presence/" + the room.
//
// Everyone may read the rooms and their presence topics and write to the
// rooms; every other topic is refused (403), as is a request without a
// name (401).
func newChat(b bus.Broker) *chat {
	read := slices.Clone(rooms)
	for _, r := range rooms {
		read = append(read, presence.DefaultPrefix+r)
	}
	p := &presence.Memory{Auth: names.Auth(read, rooms), Broker: b}
	return &chat{
		presence: p,
		rt: &auto.Handler{
			Broker:          b,
			Prefix:          "/rt",
			Auth:            p,
			MaxMessageBytes: maxMessage,
			OnPublish:       names.SignPost, // the sender is the name the server knows
		},
	}
}

// handler returns the app's routes: the page at /, the transports under
// /rt/, and GET /rt/presence?topic=<room>, the room's members as JSON.
func (c *chat) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/rt/", c.rt)
	mux.Handle("GET /rt/presence", c.presence)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	return mux
}
