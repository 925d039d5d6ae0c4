package admin

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"strings"
)

//go:embed portal.html
var portalHTML []byte

// portalCSP allows the page's own inline script and style, by their
// hashes, and requests to its own origin: nothing else.
var portalCSP = "default-src 'none'; script-src " + inlineHash("script") + "; style-src " + inlineHash("style") +
	"; connect-src 'self'; img-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

// inlineHash returns the CSP source of the page's one <tag> element.
func inlineHash(tag string) string {
	_, rest, _ := bytes.Cut(portalHTML, []byte("<"+tag+">"))
	body, _, _ := bytes.Cut(rest, []byte("</"+tag+">"))
	sum := sha256.Sum256(body)
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// Portal returns a handler for a consumer: the portal page at its root
// and h's API beneath it, so the page reaches the API with relative URLs.
// Mount it under a prefix with [http.StripPrefix]:
//
//	mux.Handle("/portal/", http.StripPrefix("/portal", admin.Portal(h)))
//
// The page is the same as h serves at /portal. Give it the endpoint and a
// token in the URL's fragment, which browsers never send to a server:
//
//	https://example.com/portal/#endpoint=ep_42&token=<token>
//
// or type them into its form. It lists the endpoint's latest deliveries
// with their state, last status and response, and a retry button for
// dead letters; it reads and retries through the API with the token as a
// Bearer credential, so a token scoped to one endpoint ("webhooks/ep_42"
// to subscribe and publish) shows that endpoint and nothing else.
func Portal(h *Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := strings.Trim(r.URL.Path, "/"); p == "" || p == "portal" {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				h.fail(w, r, methodNotAllowed("GET, HEAD"))
				return
			}
			h.servePortal(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// servePortal writes the portal page. It is static: the data comes from
// the API, with the token the user gives the page.
func (h *Handler) servePortal(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Content-Security-Policy", portalCSP)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(portalHTML)
}
