package poll

import (
	"strings"
	"testing"
)

// noneMatch never panics, always matches a list holding the tag, and the
// tag of one topic never matches the tag of another.
func FuzzNoneMatch(f *testing.F) {
	f.Add(`"e-1.abc"`, "news", "e-1")
	f.Add(`W/"x", *`, "a", "b")
	f.Add(`,,,"`, "", "")
	f.Fuzz(func(t *testing.T, header, topic, cursor string) {
		tag := etag(topic, cursor)
		_ = noneMatch(header, tag)
		if strings.ContainsAny(cursor, `",`) {
			return
		}
		if !noneMatch(header+", "+tag, tag) {
			t.Fatalf("%q does not match its own tag %s", header+", "+tag, tag)
		}
		if etag(topic+"x", cursor) == tag {
			t.Fatalf("two topics share tag %s", tag)
		}
	})
}
