package record

import (
	"bytes"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// FuzzDecode checks that any record decodes or fails cleanly, and that what
// Encode makes decodes to the same message.
func FuzzDecode(f *testing.F) {
	f.Add(Encode(nil, &bus.Message{Type: "t", Data: []byte("d"), Meta: map[string]string{"k": "v"}, Time: time.Unix(1, 2)}))
	f.Add(Encode(nil, &bus.Message{}))
	f.Add([]byte{1, 0, 0, 0})
	f.Add([]byte{1, 2, 200, 1, 'x'})
	f.Fuzz(func(t *testing.T, rec []byte) {
		var m bus.Message
		if Decode(rec, &m) != nil {
			return
		}
		var again bus.Message
		if err := Decode(Encode(nil, &m), &again); err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if again.Type != m.Type || !bytes.Equal(again.Data, m.Data) || !again.Time.Equal(m.Time) || len(again.Meta) != len(m.Meta) {
			t.Fatalf("round trip changed the message: %+v != %+v", again, m)
		}
		for k, v := range m.Meta {
			if again.Meta[k] != v {
				t.Fatalf("meta %q: %q != %q", k, again.Meta[k], v)
			}
		}
	})
}
