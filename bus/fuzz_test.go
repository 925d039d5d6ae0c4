package bus_test

import (
	"testing"

	"github.com/pushpull/pushpull/bus"
)

// FuzzParseID checks that ParseID never panics, that what it accepts
// round-trips exactly, and that IDs stay within their documented limits.
func FuzzParseID(f *testing.F) {
	for _, seed := range []string{"a-1", "abc-0", "-1", "a--1", "a-01", "Z-18446744073709551615", "a-18446744073709551616", "é-1", "0"} {
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
