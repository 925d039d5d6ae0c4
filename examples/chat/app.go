package main

import (
	_ "embed"
	"errors"
	"net/http"
	"slices"

	"github.com/pushpull/pushpull/auto"
	"github.com/pushpull/pushpull/bus"
)

//go:embed index.html
var page []byte

// rooms are the chat's topics; nothing else may be read or written.
var rooms = []string{"chat/lobby", "chat/random"}

// maxMessage bounds a chat message, JSON included.
const maxMessage = 2 << 10

// errNoRoom refuses a topic that is not a room.
var errNoRoom = errors.New("chat: no such room")

// newHandler returns the transports for the rooms on b, under /rt.
func newHandler(b bus.Broker) *auto.Handler {
	return &auto.Handler{
		Broker:          b,
		Prefix:          "/rt",
		MaxMessageBytes: maxMessage,
		Authorize: func(r *http.Request, _ auto.Action, topic string) error {
			if !slices.Contains(rooms, topic) {
				return errNoRoom
			}
			return nil
		},
	}
}

// newApp returns the app's routes: the page at / and h under /rt/.
func newApp(h *auto.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/rt/", h)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	return mux
}
