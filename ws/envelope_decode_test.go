package ws

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// fastFrames are envelopes the fast decoder must take itself.
var fastFrames = []string{
	`{"op":"message","topic":"orders","id":"e1-1","type":"order.created","data":"{\"n\":1,\"at\":1733221234567890123,\"x\":\"xxxx\"}","time":"2026-12-03T10:07:26.123456789Z"}`,
	`{"op":"ack","ref":"3","topic":"t","id":"0-0","time":"2026-01-01T00:00:00Z"}`,
	`{"op":"error","ref":"r","topic":"t","code":"forbidden","message":"not allowed"}`,
	`{"op":"reset","topic":"t","top":"e-9","message":"cursor expired"}`,
	`{"op":"subscribe","topic":"t","after":"0","ref":"1"}`,
	`{"op":"unsubscribe","topic":"t"}`,
	`{"op":"publish","topic":"t","data64":"/wD+","meta":{"k":"v","k2":""}}`,
	`{"op":"publish","topic":"t","data64":""}`,
	`{"op":"publish","topic":"t","data64":"\/wD+"}`,
	`{"op":"publish","topic":"t","data64":"eA\r\n=="}`,
	`{"op":"message","topic":"t","meta":{}}`,
	`{"op":"message","topic":"t","meta":{"k\u00e9":"v\n","k\u00e9":"w"}}`,
	`{"op":"message","topic":"t","data":"a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\u20ac\u2028\u003c\u003e\u0026"}`,
	`{"op":"message","topic":"t","data":"\ud83d\ude00 \ud83d \ude00 \ud83dx \ud83d\u0041 \ud83d\ud83d\ude00 \uDBFF\uDFFF"}`,
	`{"op":"message","topic":"t","data":"héllo 世界 😀 \ufffd"}`,
	"{\"op\":\"message\",\"topic\":\"t\",\"data\":\"a\xffb\xed\xa0\x80c\xf0\x9f\x98\"}",
	"{\"op\":\"message\",\"topic\":\"a\xff\\n\",\"id\":\"\xc3\"}",
	" \t\r\n{ \"op\" : \"ack\" , \"ref\" :\"1\" ,\"meta\" : { \"a\" : \"b\" , \"c\":\"d\" } } \n",
	`{}`,
	` { } `,
	`{"op":""}`,
	`{"op":"ack","data":""}`,
}

// declinedFrames are left to encoding/json: outside the fast decoder's
// form, or not JSON at all.
var declinedFrames = []string{
	``, ` `, `null`, `[]`, `"op"`, `{`, `{"op"`, `{"op":`, `{"op":"ack`, `{"op":"ack"`,
	`{"op":1}`, `{"op":null}`, `{"op":true}`, `{"op":["ack"]}`, `{"op":{}}`,
	`{"op":"ack",}`, `{,}`, `{"op" "ack"}`, `{"op":"ack" "ref":"1"}`,
	`{"op":"ack"} x`, `{"op":"ack"}{}`, `{"op":"ack"}}`,
	`{"Op":"ack"}`, `{"OP":"ack"}`, `{"o\u0070":"ack"}`, `{"x":"y"}`, `{"op":"ack","extra":1}`,
	`{"op":"ack","op":"ack"}`, `{"meta":{},"meta":{}}`,
	`{"meta":{"k":1}}`, `{"meta":{"k":null}}`, `{"meta":[]}`, `{"meta":null}`, `{"meta":"x"}`,
	`{"meta":{"a":"b",}}`, `{"meta":{"a"}}`, `{"meta":{"a":"b"`, `{"meta":{"a":"b" "c":"d"}}`,
	`{"data64":"eA="}`, `{"data64":"!!!!"}`, `{"data64":null}`, `{"data64":"\u00ff"}`,
	"{\"op\":\"a\x01\"}", `{"op":"\x"}`, `{"op":"\u12"}`, `{"op":"\u12g4"}`, `{"op":"\'"}`, `{"op":"\`,
	"\ufeff{\"op\":\"ack\"}", "{\"op\":\"ack\"}\x00", "{\"op\"\v:\"ack\"}",
}

func TestDecodeEnvelopeFastMatchesJSON(t *testing.T) {
	var frames []string
	frames = append(frames, fastFrames...)
	at := time.Date(2026, 12, 3, 10, 7, 26, 123456789, time.UTC)
	for _, m := range []bus.Message{
		{Topic: "t", ID: "e-1", Type: "x", Data: []byte(`{"n":1,"x":"<&>"}`), Time: at},
		{Topic: "t", ID: "e-2", Data: []byte{0xff, 0, '\n'}, Meta: map[string]string{"k": "v\u2028", "": "\x00"}},
		{Topic: "t", ID: "e-3", Data: []byte("\U0001F600\ufffd\t")},
		{Topic: "t", ID: "e-4"},
	} {
		frames = append(frames, string(encodeMessage(m)), string(encodePublish("r", m.Topic, m)))
	}
	for _, f := range frames {
		e, ok := decodeEnvelopeFast([]byte(f))
		if !ok {
			t.Errorf("fast path declined %q", f)
			continue
		}
		var want envelope
		if err := json.Unmarshal([]byte(f), &want); err != nil {
			t.Errorf("%q: encoding/json: %v", f, err)
			continue
		}
		if !reflect.DeepEqual(e, want) {
			t.Errorf("%q:\nfast path     %#v\nencoding/json %#v", f, e, want)
		}
	}
}

func TestDecodeEnvelopeFastDeclines(t *testing.T) {
	for _, f := range declinedFrames {
		if e, ok := decodeEnvelopeFast([]byte(f)); ok {
			t.Errorf("fast path took %q as %#v", f, e)
		}
	}
}

// The decoded envelope is a copy: the frame's buffer may be reused.
func TestDecodeEnvelopeOwnsItsStrings(t *testing.T) {
	for _, f := range fastFrames[:7] {
		p := []byte(f)
		e, err := decodeEnvelope(p)
		if err != nil {
			t.Fatalf("%q: %v", f, err)
		}
		want := e
		want.Data64 = append([]byte(nil), e.Data64...)
		for i := range p {
			p[i] = 'x'
		}
		if !reflect.DeepEqual(e, want) {
			t.Fatalf("%q: envelope changed with its frame: %#v", f, e)
		}
	}
}

// Errors are those of encoding/json whichever way a frame is decoded.
func TestDecodeEnvelopeErrors(t *testing.T) {
	for _, tc := range []struct{ frame, err string }{
		{`{"op":"ack","op":1}`, "ws: malformed frame: json: cannot unmarshal number into Go struct field envelope.op of type string"},
		{`{"data64":"eA="}`, "ws: malformed frame: illegal base64 data at input byte 3"},
		{`{"op":"ack"} x`, "ws: malformed frame: invalid character 'x' after top-level value"},
		{`{"OP":"ack"}`, ""},
		{`{"op":"ack","extra":[1]}`, ""},
		{`{"op":"message","topic":"t","data":"x","data64":"eA=="}`, "ws: malformed frame: both data and data64"},
		{`{"meta":{}}`, "ws: malformed frame: no op"},
	} {
		_, err := decodeEnvelope([]byte(tc.frame))
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.err {
			t.Errorf("%q: error %q, want %q", tc.frame, got, tc.err)
		}
	}
}

// benchFrames are typical envelopes of 256 bytes: a message whose data is
// plain text, and one whose data is JSON, as the load tool sends, so every
// quote in it is escaped.
func benchFrames() map[string][]byte {
	at := time.Date(2026, 12, 3, 10, 7, 26, 123456789, time.UTC)
	frame := func(data func(n int) string) []byte {
		m := bus.Message{Topic: "load", ID: "1764756446123456789-1234567", Type: "load.tick", Time: at}
		for n := 0; ; n++ {
			m.Data = []byte(data(n))
			if p := encodeMessage(m); len(p) >= 256 {
				return p
			}
		}
	}
	return map[string][]byte{
		"plain": frame(func(n int) string { return strings.Repeat("x", n) }),
		"escaped": frame(func(n int) string {
			return `{"n":1234567,"at":1764756446123456789,"x":"` + strings.Repeat("x", n) + `"}`
		}),
	}
}

func BenchmarkDecodeEnvelope(b *testing.B) {
	for _, name := range []string{"plain", "escaped"} {
		p := benchFrames()[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decodeEnvelope(p); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/encoding-json", func(b *testing.B) {
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for b.Loop() {
				var e envelope
				if err := json.Unmarshal(p, &e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
