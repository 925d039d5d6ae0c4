package bus_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// FuzzParseID checks that ParseID never panics, that what it accepts
// round-trips exactly, and that IDs stay within their documented limits.
func FuzzParseID(f *testing.F) {
	for _, seed := range []string{"a-1", "abc-0", "-1", "a--1", "a-01", "Z-18446744073709551615", "a-18446744073709551616", "é-1", "0", "0-0", "0-1"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		p, err := bus.ParseID(id)
		if err != nil {
			return
		}
		if p.ID() != id {
			t.Fatalf("ParseID(%q) = %+v, which formats as %q", id, p, p.ID())
		}
		if id == bus.Origin {
			if p != (bus.Position{}) {
				t.Fatalf("ParseID(Origin) = %+v, want the zero Position", p)
			}
			return
		}
		if len(id) > bus.MaxIDLen || !bus.ValidEpoch(p.Epoch) {
			t.Fatalf("accepted %q beyond the limits", id)
		}
		for i := 0; i < len(id); i++ {
			if c := id[i]; c < 0x21 || c > 0x7e {
				t.Fatalf("accepted a non-printable byte in %q", id)
			}
		}
	})
}

// FuzzDecodeRecord checks that any record decodes or fails cleanly, and that what
// Encode makes decodes to the same message.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(bus.AppendRecord(nil, &bus.Message{Type: "t", Data: []byte("d"), Meta: map[string]string{"k": "v"}, Time: time.Unix(1, 2)}))
	f.Add(bus.AppendRecord(nil, &bus.Message{}))
	f.Add([]byte{1, 0, 0, 0})
	f.Add([]byte{1, 2, 200, 1, 'x'})
	f.Fuzz(func(t *testing.T, rec []byte) {
		var m bus.Message
		if bus.DecodeRecord(rec, &m) != nil {
			return
		}
		var again bus.Message
		if err := bus.DecodeRecord(bus.AppendRecord(nil, &m), &again); err != nil {
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
