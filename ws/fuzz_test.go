package ws

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/pushpull/pushpull/bus"
)

func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"op":"subscribe","topic":"t","after":"0","ref":"1"}`,
		`{"op":"subscribe","topic":"t","after":"abc-12"}`,
		`{"op":"unsubscribe","topic":"t"}`,
		`{"op":"publish","topic":"t","type":"x","data":"héllo","ref":"r"}`,
		`{"op":"publish","topic":"t","data64":"/wD+"}`,
		`{"op":"message","topic":"t","id":"e-1","data":"x","meta":{"k":"v"},"time":"2026-01-01T00:00:00Z"}`,
		`{"op":"error","code":"forbidden","message":"no"}`,
		`{"op":"reset","topic":"t","top":"e-9"}`,
		`{"op":"publish","topic":"t","data":"x","data64":"eA=="}`,
		`{"op":1}`, `[]`, `null`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		e, err := decodeEnvelope(p)
		if err != nil {
			return
		}
		if e.Data != "" && e.Data64 != nil {
			t.Fatalf("accepted both data and data64: %q", p)
		}
		switch e.Op {
		case opSubscribe, opUnsubscribe, opPublish, opMessage, opReset:
			if bus.ValidateTopic(e.Topic) != nil {
				t.Fatalf("accepted invalid topic %q", e.Topic)
			}
		}
		// A decoded message re-encodes to a frame that decodes to the
		// same payload, byte for byte.
		if e.Op == opMessage {
			m := e.message()
			e2, err := decodeEnvelope(encodeMessage(m))
			if err != nil {
				t.Fatalf("re-encoded message does not decode: %v", err)
			}
			if !bytes.Equal(e2.data(), m.Data) || e2.Type != m.Type || e2.ID != m.ID {
				t.Fatalf("round trip changed the message: %+v vs %+v", m, e2.message())
			}
		}
	})
}

// FuzzDecodeEnvelopeFast: for any input the fast decoder either declines
// or yields exactly what encoding/json makes of it.
func FuzzDecodeEnvelopeFast(f *testing.F) {
	for _, s := range fastFrames {
		f.Add([]byte(s))
	}
	for _, s := range declinedFrames {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		e, ok := decodeEnvelopeFast(p)
		if !ok {
			return
		}
		var want envelope
		if err := json.Unmarshal(p, &want); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json: %v", p, err)
		}
		if !reflect.DeepEqual(e, want) {
			t.Fatalf("%q: fast path %#v, encoding/json %#v", p, e, want)
		}
	})
}

func FuzzDataRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), "type")
	f.Add([]byte{0xff, 0xfe, 0}, "")
	f.Add([]byte("\u2028<script>&"), "x")
	f.Fuzz(func(t *testing.T, data []byte, typ string) {
		if bus.ValidateType(typ) != nil || !utf8.ValidString(typ) {
			return // types travel as JSON strings: UTF-8 only (see doc.go)
		}
		m := bus.Message{Topic: "t", ID: "e-1", Type: typ, Data: data}
		e, err := decodeEnvelope(encodeMessage(m))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(e.data(), data) || e.Type != typ {
			t.Fatalf("data %q type %q came back as %q %q", data, typ, e.data(), e.Type)
		}
	})
}

// FuzzBatchFrame: splitting any frame never panics, yields envelopes that
// join back to the frame, and never yields an empty one; every envelope
// the server encodes survives a batch unchanged.
func FuzzBatchFrame(f *testing.F) {
	f.Add([]byte(`{"op":"ack","ref":"s","topic":"t","id":"0-0"}`), []byte("x"), []byte{0xff, '\n'})
	f.Add([]byte("{\"op\":\"ack\"}\n{\"op\":\"message\",\"topic\":\"t\",\"id\":\"e-1\"}"), []byte("a\nb"), []byte{})
	f.Add([]byte("\n"), []byte("\u2028"), []byte("\r\n"))
	f.Add([]byte("a\n\nb\n"), []byte{}, []byte{0})
	f.Fuzz(func(t *testing.T, frame, d1, d2 []byte) {
		var parts [][]byte
		err := eachEnvelope(frame, func(e []byte) error {
			if len(e) == 0 || bytes.IndexByte(e, batchSep) >= 0 {
				t.Fatalf("envelope %q from frame %q", e, frame)
			}
			parts = append(parts, e)
			_, _ = decodeEnvelope(e)
			return nil
		})
		if err == nil && !bytes.Equal(bytes.Join(parts, []byte{batchSep}), frame) {
			t.Fatalf("frame %q split into %q", frame, parts)
		}

		var batch []byte
		msgs := []bus.Message{
			{Topic: "t", ID: "e-1", Data: d1, Meta: map[string]string{"k": string(d2)}},
			{Topic: "t", ID: "e-2", Type: "x", Data: d2},
		}
		for _, m := range msgs {
			p := encodeMessage(m)
			if bytes.IndexByte(p, batchSep) >= 0 {
				t.Fatalf("encoded envelope holds a newline: %q", p)
			}
			batch = appendBatch(batch, p)
		}
		i := 0
		err = eachEnvelope(batch, func(p []byte) error {
			e, err := decodeEnvelope(p)
			if err != nil {
				return err
			}
			if !bytes.Equal(e.data(), msgs[i].Data) || e.ID != msgs[i].ID {
				t.Fatalf("envelope %d came back as %+v", i, e)
			}
			i++
			return nil
		})
		if err != nil || i != len(msgs) {
			t.Fatalf("batch %q: %d envelopes, %v", batch, i, err)
		}
	})
}
