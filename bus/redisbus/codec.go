package redisbus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/pushpull/pushpull/bus"
)

// The stored form of a message: a version byte, the publication time in Unix
// nanoseconds (varint), the type, the meta pairs and the data, each string
// length-prefixed (uvarint) except the data, which runs to the end. The
// topic and ID are not stored: they are known from where the record is.
const codecVersion = 1

var errCorrupt = errors.New("corrupt message record")

// encode appends the stored form of m to dst.
func encode(dst []byte, m *bus.Message) []byte {
	dst = append(dst, codecVersion)
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

// decode parses a record made by encode into m (Topic and ID untouched).
func decode(rec []byte, m *bus.Message) error {
	if len(rec) == 0 || rec[0] != codecVersion {
		return fmt.Errorf("%w: unknown version", errCorrupt)
	}
	rec = rec[1:]
	ns, n := binary.Varint(rec)
	if n <= 0 {
		return errCorrupt
	}
	rec = rec[n:]
	m.Time = time.Unix(0, ns)
	var err error
	if m.Type, rec, err = readString(rec); err != nil {
		return err
	}
	count, n := binary.Uvarint(rec)
	if n <= 0 || count > uint64(len(rec)) {
		return errCorrupt
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
		return "", nil, errCorrupt
	}
	return string(rec[n : n+int(l)]), rec[n+int(l):], nil
}
