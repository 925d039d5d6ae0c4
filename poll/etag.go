package poll

import (
	"hash/fnv"
	"strconv"
	"strings"
)

// etag returns the strong entity tag of an answer for topic that leaves the
// client at cursor: "<cursor>.<hash of the topic>". Two answers to the same
// URL with the same cursor carry the same messages, so the tag is a strong
// validator; it changes whenever the topic's head moves past the cursor.
func etag(topic, cursor string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(topic))
	b := make([]byte, 0, len(cursor)+20)
	b = append(b, '"')
	b = append(b, cursor...)
	b = append(b, '.')
	b = strconv.AppendUint(b, h.Sum64(), 36)
	return string(append(b, '"'))
}

// noneMatch reports whether the If-None-Match header value v matches tag,
// with the weak comparison RFC 9110 §13.1.2 prescribes for it.
func noneMatch(v, tag string) bool {
	for v != "" {
		var item string
		item, v, _ = strings.Cut(v, ",")
		item = strings.TrimSpace(item)
		if item == "*" {
			return true
		}
		item = strings.TrimPrefix(item, "W/")
		if item == strings.TrimPrefix(tag, "W/") {
			return true
		}
	}
	return false
}
