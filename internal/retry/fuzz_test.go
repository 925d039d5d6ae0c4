package retry

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// Whatever a server answers, ReadStatus keeps one line of printable UTF-8
// of at most 200 bytes and a Retry-After within [0, MaxRetryAfter].
func FuzzReadStatus(f *testing.F) {
	f.Add(503, "3", []byte("sse: handler is shutting down\n"))
	f.Add(403, "Fri, 27 Nov 2026 12:00:30 GMT", []byte(`{"error":"forbidden","message":"denied"}`))
	f.Add(502, "-1", []byte("<html>\r\n\x00\xff</html>"))
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		resp := &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {retryAfter}}}
		st := ReadStatus(resp, body, time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
		if st.StatusCode != status {
			t.Fatalf("status %d became %d", status, st.StatusCode)
		}
		if st.RetryAfter < 0 || st.RetryAfter > MaxRetryAfter {
			t.Fatalf("Retry-After %q gave %v", retryAfter, st.RetryAfter)
		}
		for _, s := range []string{st.Code, st.Message} {
			if len(s) > maxMessage || !utf8.ValidString(s) || strings.TrimSpace(s) != s {
				t.Fatalf("%q is not one clean line", s)
			}
			for _, r := range s {
				if r != ' ' && (unicode.IsSpace(r) || !unicode.IsPrint(r)) {
					t.Fatalf("%q holds %U", s, r)
				}
			}
		}
	})
}
