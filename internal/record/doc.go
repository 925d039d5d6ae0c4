// Package record is the stored form of a bus.Message shared by the broker
// adapters (bus/redisbus, bus/natsbus): the bytes they keep in the server's
// history and send to other processes.
//
// A record is a version byte (1), the publication time in Unix nanoseconds
// as a varint, the type, the number of meta pairs (uvarint) and each key
// and value, every string preceded by its length as a uvarint, then the
// data, which runs to the end of the record. The topic and the ID are not
// stored: the adapter knows them from where it found the record.
//
// Encode and Decode are pure functions, safe for concurrent use. Decode
// never panics; a record it cannot parse yields an error wrapping
// ErrCorrupt.
package record
