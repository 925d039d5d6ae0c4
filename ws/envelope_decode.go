package ws

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"math/bits"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeEnvelopeFast decodes the envelopes that encoders actually write,
// in one pass and without reflection: a JSON object whose keys are the
// envelope's field names, spelled exactly and each at most once, whose
// values are strings, except "meta", an object of strings. It reports
// false for anything else, valid JSON or not (a null, a number, an unknown
// key, a duplicate key, bad base64 in data64, trailing data…), and the
// caller then decodes with encoding/json. When it reports true, the
// envelope is exactly what json.Unmarshal makes of p: strings unescaped
// and invalid UTF-8 replaced by U+FFFD as encoding/json does, data64
// decoded with base64.StdEncoding, "meta":{} an empty, non-nil map.
//
// The result never refers to p: the caller may reuse p.
func decodeEnvelopeFast(p []byte) (envelope, bool) {
	var d envDecoder
	if !d.scan(p) {
		return envelope{}, false
	}
	return d.build(p)
}

// envField numbers the fields of an envelope on the wire.
type envField uint8

const (
	fieldOp envField = iota
	fieldRef
	fieldTopic
	fieldAfter
	fieldID
	fieldType
	fieldTime
	fieldTop
	fieldCode
	fieldMessage
	fieldData // the fields above share one string; the ones below do not
	fieldData64
	fieldMeta
	nFields
)

// envelopeField returns the field named by the key k.
func envelopeField(k []byte) (envField, bool) {
	switch string(k) {
	case "op":
		return fieldOp, true
	case "ref":
		return fieldRef, true
	case "topic":
		return fieldTopic, true
	case "after":
		return fieldAfter, true
	case "id":
		return fieldID, true
	case "type":
		return fieldType, true
	case "time":
		return fieldTime, true
	case "top":
		return fieldTop, true
	case "code":
		return fieldCode, true
	case "message":
		return fieldMessage, true
	case "data":
		return fieldData, true
	case "data64":
		return fieldData64, true
	case "meta":
		return fieldMeta, true
	}
	return 0, false
}

// span is where a value lies in the frame: the body of a string (without
// its quotes), or the whole of the meta object.
type span struct {
	start, end int
	escaped    bool // a string holding a backslash escape
	high       bool // a string holding a byte above ASCII
	set        bool
}

// envDecoder holds what the scan of one frame found.
type envDecoder struct {
	fields [nFields]span
	short  int // the length of the bodies of fields before fieldData
	metas  int // the number of members of meta
}

// scan checks that p is an envelope of the form decodeEnvelopeFast
// handles and records where each field's value lies.
func (d *envDecoder) scan(p []byte) bool {
	i := skipSpace(p, 0)
	if i == len(p) || p[i] != '{' {
		return false
	}
	i = skipSpace(p, i+1)
	if i < len(p) && p[i] == '}' {
		return skipSpace(p, i+1) == len(p)
	}
	for {
		if i == len(p) || p[i] != '"' {
			return false
		}
		ks, ke, esc, high, ok := scanString(p, i)
		if !ok || esc || high {
			return false // an escaped key may still name a field: leave it to encoding/json
		}
		f, ok := envelopeField(p[ks:ke])
		if !ok || d.fields[f].set {
			return false
		}
		i = skipSpace(p, ke+1)
		if i == len(p) || p[i] != ':' {
			return false
		}
		i = skipSpace(p, i+1)
		if i == len(p) {
			return false
		}
		v := span{start: i, set: true}
		if f == fieldMeta {
			if p[i] != '{' {
				return false
			}
			if i, ok = d.scanMeta(p, i); !ok {
				return false
			}
			v.end = i
		} else {
			if p[i] != '"' {
				return false
			}
			v.start, v.end, v.escaped, v.high, ok = scanString(p, i)
			if !ok {
				return false
			}
			if f < fieldData {
				d.short += v.end - v.start
			}
			i = v.end + 1
		}
		d.fields[f] = v
		i = skipSpace(p, i)
		if i == len(p) {
			return false
		}
		switch p[i] {
		case ',':
			i = skipSpace(p, i+1)
		case '}':
			return skipSpace(p, i+1) == len(p)
		default:
			return false
		}
	}
}

// scanMeta checks the object of strings that starts at p[i] and returns
// the index just after it.
func (d *envDecoder) scanMeta(p []byte, i int) (int, bool) {
	i = skipSpace(p, i+1)
	if i < len(p) && p[i] == '}' {
		return i + 1, true
	}
	for {
		for j := range 2 { // the key, then the value
			if i == len(p) || p[i] != '"' {
				return 0, false
			}
			_, end, _, _, ok := scanString(p, i)
			if !ok {
				return 0, false
			}
			i = skipSpace(p, end+1)
			if j == 0 {
				if i == len(p) || p[i] != ':' {
					return 0, false
				}
				i = skipSpace(p, i+1)
			}
		}
		d.metas++
		if i == len(p) {
			return 0, false
		}
		switch p[i] {
		case ',':
			i = skipSpace(p, i+1)
		case '}':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// build makes the envelope from the frame scan checked.
func (d *envDecoder) build(p []byte) (envelope, bool) {
	var e envelope
	if d.short > 0 {
		// One allocation holds the short fields: they live as long as
		// one another (a message's topic, id, type and time).
		var b strings.Builder
		b.Grow(d.short)
		var ends [fieldData]int
		for f := range fieldData {
			if v := d.fields[f]; v.set {
				appendString(&b, p, v)
			}
			ends[f] = b.Len()
		}
		s := b.String()
		start := 0
		for f, end := range ends {
			*e.shortField(envField(f)) = s[start:end]
			start = end
		}
	}
	if v := d.fields[fieldData]; v.set {
		e.Data = decodeString(p, v)
	}
	if v := d.fields[fieldData64]; v.set {
		src := p[v.start:v.end]
		if v.escaped || v.high {
			src = []byte(decodeString(p, v))
		}
		// As encoding/json decodes a []byte: never nil, even when empty.
		b := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
		n, err := base64.StdEncoding.Decode(b, src)
		if err != nil {
			return envelope{}, false
		}
		e.Data64 = b[:n]
	}
	if v := d.fields[fieldMeta]; v.set {
		e.Meta = decodeMeta(p[v.start:v.end], d.metas)
	}
	return e, true
}

// shortField returns the string field of e that f names; f is before
// fieldData.
func (e *envelope) shortField(f envField) *string {
	switch f {
	case fieldOp:
		return &e.Op
	case fieldRef:
		return &e.Ref
	case fieldTopic:
		return &e.Topic
	case fieldAfter:
		return &e.After
	case fieldID:
		return &e.ID
	case fieldType:
		return &e.Type
	case fieldTime:
		return &e.Time
	case fieldTop:
		return &e.Top
	case fieldCode:
		return &e.Code
	default:
		return &e.Message
	}
}

// decodeMeta decodes the object of n strings that scanMeta checked.
func decodeMeta(p []byte, n int) map[string]string {
	m := make(map[string]string, n)
	i := skipSpace(p, 1)
	for i < len(p) && p[i] == '"' {
		var kv [2]string
		for j := range kv {
			start, end, esc, high, _ := scanString(p, i)
			kv[j] = decodeString(p, span{start: start, end: end, escaped: esc, high: high})
			i = skipSpace(p, end+1)
			if j == 0 {
				i = skipSpace(p, i+1) // the colon
			}
		}
		m[kv[0]] = kv[1] // a repeated key keeps its last value, as in encoding/json
		if p[i] == ',' {
			i = skipSpace(p, i+1)
		}
	}
	return m
}

// decodeString returns the string whose body is v.
func decodeString(p []byte, v span) string {
	if !v.escaped && !v.high {
		return string(p[v.start:v.end])
	}
	var b strings.Builder
	b.Grow(v.end - v.start)
	appendString(&b, p, v)
	return b.String()
}

// appendString writes to b the string whose body is v.
func appendString(b *strings.Builder, p []byte, v span) {
	s := p[v.start:v.end]
	if !v.escaped && (!v.high || utf8.Valid(s)) {
		b.Write(s)
		return
	}
	unquote(b, s)
}

// unquote writes to b the string whose body is s, which scanString
// accepted, exactly as encoding/json decodes it: escapes resolved, an
// unpaired surrogate and each byte of invalid UTF-8 replaced by U+FFFD.
func unquote(b *strings.Builder, s []byte) {
	for len(s) > 0 {
		i := bytes.IndexByte(s, '\\')
		if i < 0 {
			i = len(s)
		}
		writeUTF8(b, s[:i])
		s = s[i:]
		if len(s) == 0 {
			return
		}
		switch c := s[1]; c {
		case 'u':
			r := hex4(s[2:6])
			s = s[6:]
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
					r2 = hex4(s[2:6])
				}
				if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
					s = s[6:]
					b.WriteRune(dec)
					continue
				}
				r = unicode.ReplacementChar
			}
			b.WriteRune(r)
			continue
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		default: // " \ /
			b.WriteByte(c)
		}
		s = s[2:]
	}
}

// writeUTF8 writes s to b with each byte of invalid UTF-8 replaced by
// U+FFFD.
func writeUTF8(b *strings.Builder, s []byte) {
	if utf8.Valid(s) {
		b.Write(s)
		return
	}
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.Write(s[:size])
		}
		s = s[size:]
	}
}

// hex4 returns the value of four hexadecimal digits scanString checked.
func hex4(h []byte) rune {
	var r rune
	for _, c := range h[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// Bytes of a word of 8, for testing all 8 at once.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special returns a word whose lowest set bit is the high bit of the first
// byte of x that a JSON string does not hold as it is: a quote, a
// backslash, a control character or a byte above ASCII. It is 0 when
// there is none.
func special(x uint64) uint64 {
	zero := func(x uint64) uint64 { return (x - ones) & ^x & highs }
	return zero(x^(ones*'"')) | zero(x^(ones*'\\')) | (x-ones*' ')&^x&highs | x&highs
}

// scanString checks the JSON string whose opening quote is p[i]. It
// returns the bounds of its body (end is the index of the closing quote)
// and whether the body holds an escape or a byte above ASCII.
func scanString(p []byte, i int) (start, end int, escaped, high, ok bool) {
	start = i + 1
	for i = start; ; {
		for i+8 <= len(p) {
			if m := special(binary.LittleEndian.Uint64(p[i:])); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		if i == len(p) {
			return // no closing quote
		}
		switch c := p[i]; {
		case c == '"':
			return start, i, escaped, high, true
		case c == '\\':
			escaped = true
			if i+1 == len(p) {
				return
			}
			switch p[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(p) || !isHex(p[i+2]) || !isHex(p[i+3]) || !isHex(p[i+4]) || !isHex(p[i+5]) {
					return
				}
				i += 6
			default:
				return
			}
		case c >= utf8.RuneSelf:
			high = true
			i++
		case c < ' ':
			return
		default:
			i++
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// skipSpace returns the index of the first byte of p from i on that is
// not JSON whitespace.
func skipSpace(p []byte, i int) int {
	for i < len(p) {
		switch p[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}
