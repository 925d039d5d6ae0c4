package auto

import (
	_ "embed"
	"net/http"
	"strconv"
)

//go:embed client.js
var clientJS []byte

// ClientJS returns an http.Handler serving the browser client, a
// dependency-free ES module (text/javascript). The Handler serves it at
// Prefix + "/client.js" too. See the package documentation for its API.
func ClientJS() http.Handler { return http.HandlerFunc(serveClientJS) }

func serveClientJS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "auto: use GET", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(clientJS)))
	w.Header().Set("Cache-Control", "no-cache")
	if r.Method != http.MethodHead {
		_, _ = w.Write(clientJS)
	}
}
