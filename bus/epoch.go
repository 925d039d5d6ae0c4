package bus

import "crypto/rand"

// epochLen is the length of the epochs NewEpoch returns: 12 base-36 digits,
// about 62 bits of randomness.
const epochLen = 12

// NewEpoch returns a fresh random epoch for a topic whose history starts
// over: 12 characters from 0-9 and a-z, drawn from crypto/rand, so it is
// valid for ValidEpoch and two calls practically never return the same
// epoch. All epochs it returns have the same length, so a broker may append
// a counter of its own (as Memory does) and still keep its epochs distinct.
// NewEpoch panics if the system has no randomness.
func NewEpoch() string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	// 252 is the largest multiple of 36 below 256: bytes at or above it are
	// drawn again, so every digit is equally likely.
	const limit = 256 - 256%len(digits)
	buf := make([]byte, 0, epochLen)
	var raw [2 * epochLen]byte
	for len(buf) < epochLen {
		if _, err := rand.Read(raw[:]); err != nil {
			panic("bus: no randomness for an epoch: " + err.Error())
		}
		for _, c := range raw {
			if int(c) < limit && len(buf) < epochLen {
				buf = append(buf, digits[int(c)%len(digits)])
			}
		}
	}
	return string(buf)
}
