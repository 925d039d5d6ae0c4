package bus

import (
	"encoding/binary"
	"fmt"
	"time"
)

// recordVersion is the first byte of every record.
const recordVersion = 1

// errCorrupt reports a record that DecodeRecord cannot parse: an unknown
// version, a truncated field or a length that runs past the end.
var errCorrupt = fmt.Errorf("%w: corrupt record", ErrInvalidMessage)

// AppendRecord appends the stored form of m to dst and returns the extended
// slice: the bytes a broker keeps in its storage and sends to other
// processes. The topic and ID of m are not stored; the broker knows them
// from where it keeps the record.
//
// A record is a version byte (1), the publication time in Unix nanoseconds
// as a varint, the type, the number of meta pairs (uvarint) and each key
// and value, every string preceded by its length as a uvarint, then the
// data, which runs to the end of the record. The format is stable: brokers
// of different versions share storage.
func AppendRecord(dst []byte, m *Message) []byte {
	dst = append(dst, recordVersion)
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

// DecodeRecord parses a record made by AppendRecord into m, setting its
// Time, Type, Meta and Data and leaving Topic and ID untouched. m.Data
// aliases rec. It never panics; a record it cannot parse yields an error
// wrapping ErrInvalidMessage.
func DecodeRecord(rec []byte, m *Message) error {
	if len(rec) == 0 || rec[0] != recordVersion {
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
