package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// version is the first byte of every record.
const version = 1

// ErrCorrupt reports a record that Decode cannot parse: an unknown version,
// a truncated field or a length that runs past the end.
var ErrCorrupt = errors.New("corrupt message record")

// Encode appends the stored form of m to dst and returns the extended
// slice. The topic and ID of m are not stored.
func Encode(dst []byte, m *bus.Message) []byte {
	dst = append(dst, version)
	dst = binary.AppendVarint(dst, m.Time.UnixNano())
	dst = appendString(dst, m.Type)
	dst = binary.AppendUvarint(dst, uint64(len(m.Meta)))
	for k, v := range m.Meta {
		dst = appendString(dst, k)
		dst = appendString(dst, v)
	}
	return append(dst, m.Data...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// Decode parses a record made by Encode into m, setting its Time, Type,
// Meta and Data and leaving Topic and ID untouched. m.Data aliases rec. A
// record it cannot parse yields an error wrapping ErrCorrupt.
func Decode(rec []byte, m *bus.Message) error {
	if len(rec) == 0 || rec[0] != version {
		return fmt.Errorf("%w: unknown version", ErrCorrupt)
	}
	rec = rec[1:]
	ns, n := binary.Varint(rec)
	if n <= 0 {
		return ErrCorrupt
	}
	rec = rec[n:]
	m.Time = time.Unix(0, ns)
	var err error
	if m.Type, rec, err = readString(rec); err != nil {
		return err
	}
	count, n := binary.Uvarint(rec)
	if n <= 0 || count > uint64(len(rec)) {
		return ErrCorrupt
	}
	rec = rec[n:]
	if count > 0 {
		m.Meta = make(map[string]string, count)
		for range count {
			var k, v string
			if k, rec, err = readString(rec); err != nil {
				return err
			}
			if v, rec, err = readString(rec); err != nil {
				return err
			}
			m.Meta[k] = v
		}
	}
	m.Data = rec
	return nil
}

func readString(rec []byte) (string, []byte, error) {
	l, n := binary.Uvarint(rec)
	if n <= 0 || l > uint64(len(rec)-n) {
		return "", nil, ErrCorrupt
	}
	return string(rec[n : n+int(l)]), rec[n+int(l):], nil
}
