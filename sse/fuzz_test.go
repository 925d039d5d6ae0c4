package sse

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/pushpull/pushpull/bus"
)

// FuzzParse checks that the parser never panics, respects its size limit,
// gives the same events however the input is split, and reads back what the
// encoder writes.
func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add([]byte(tc.in), uint8(3), "t", []byte("a\r\nb"))
	}
	f.Add([]byte("data:x\r"), uint8(7), "", []byte(""))
	f.Add([]byte(":\xEF\xBB\xBF\n"), uint8(1), "reset", []byte("\n"))
	f.Fuzz(func(t *testing.T, in []byte, split uint8, typ string, data []byte) {
		const max = 256
		whole, errWhole := collect(bytes.NewReader(in), max)
		cut := int(split) % (len(in) + 1)
		parts, errParts := collect(io.MultiReader(bytes.NewReader(in[:cut]), iotest.OneByteReader(bytes.NewReader(in[cut:]))), max)
		if (errWhole == nil) != (errParts == nil) || len(whole) != len(parts) {
			t.Fatalf("split at %d changes the result: %v/%v vs %v/%v", cut, whole, errWhole, parts, errParts)
		}
		for i := range whole {
			if whole[i] != parts[i] {
				t.Fatalf("split at %d: event %d differs: %+v vs %+v", cut, i, whole[i], parts[i])
			}
			if len(whole[i].Data) > max {
				t.Fatalf("event of %d bytes past the limit %d", len(whole[i].Data), max)
			}
		}
		if errWhole != nil {
			var tl *EventTooLargeError
			if !errors.As(errWhole, &tl) {
				t.Fatalf("unexpected error %v", errWhole)
			}
		}

		// Round trip through the encoder.
		m := bus.Message{ID: "e1-42", Type: typ, Data: data}
		wire, err := appendMessage(nil, &m)
		if err != nil {
			if !errors.Is(err, ErrEncode) {
				t.Fatalf("encode error %v does not wrap ErrEncode", err)
			}
			return
		}
		got, err := collect(bytes.NewReader(wire), 1<<20)
		if err != nil || len(got) != 1 {
			t.Fatalf("encoded %q parses to %v, %v", wire, got, err)
		}
		want := Event{ID: m.ID, Type: string(decodeUTF8(nil, []byte(typ))), Data: normalizeData(data)}
		if got[0] != want {
			t.Fatalf("round trip of %q: got %+v, want %+v", wire, got[0], want)
		}
	})
}

func collect(r io.Reader, max int) ([]Event, error) {
	p := NewParser(r)
	p.MaxEventSize = max
	var evs []Event
	for {
		e, err := p.Next()
		if err == io.EOF {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, e)
	}
}
