package pgbus

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// FuzzParseNotification: the payload parser never panics, and what it
// accepts is a valid topic and position; a payload made the way
// pushpull_publish makes it round-trips.
func FuzzParseNotification(f *testing.F) {
	m := bus.Message{Type: "t", Data: []byte("data"), Time: time.Unix(1, 0), Meta: map[string]string{"k": "v"}}
	rec := base64.StdEncoding.EncodeToString(bus.AppendRecord(nil, &m))
	f.Add("orders abcdefghijkl 7 " + rec)
	f.Add("orders abcdefghijkl 7")
	f.Add("orders abcdefghijkl 0")
	f.Add("a b c d")
	f.Add("")
	f.Fuzz(func(t *testing.T, payload string) {
		topic, p, raw, ok := parseNotification(payload)
		if !ok {
			return
		}
		if bus.ValidateTopic(topic) != nil || !bus.ValidEpoch(p.Epoch) || p.Offset == 0 {
			t.Fatalf("accepted %q as %q %v", payload, topic, p)
		}
		if raw != nil {
			var got bus.Message
			_ = bus.DecodeRecord(raw, &got) // never panics
		}
	})
}
