package redisbus

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// States of Broker.mode: whether notifications use sharded PUB/SUB.
const (
	modeUnknown int32 = iota
	modePlain
	modeSharded
)

// sharded reports whether the broker notifies with sharded PUB/SUB
// (SPUBLISH and SSUBSCRIBE): only on a Redis Cluster whose servers know
// SPUBLISH (Redis 7 and later). It asks the cluster once, on first use,
// and again after a failed attempt.
func (b *Broker) sharded(ctx context.Context) (bool, error) {
	switch b.mode.Load() {
	case modePlain:
		return false, nil
	case modeSharded:
		return true, nil
	}
	if _, ok := b.Client.(*redis.ClusterClient); !ok || b.plain {
		b.mode.Store(modePlain)
		return false, nil
	}
	if err := b.begin(); err != nil {
		return false, err
	}
	defer b.calls.Done()
	info, err := b.Client.Do(ctx, "COMMAND", "INFO", "SPUBLISH").Slice()
	if err != nil {
		b.failed(err)
		return false, fmt.Errorf("redisbus: asking for SPUBLISH: %w", err)
	}
	m := modePlain
	if len(info) == 1 && info[0] != nil {
		m = modeSharded
	}
	b.mode.CompareAndSwap(modeUnknown, m)
	return b.mode.Load() == modeSharded, nil
}

// isSharded is the answer of sharded, once known.
func (b *Broker) isSharded() bool { return b.mode.Load() == modeSharded }

// slot returns the Redis Cluster hash slot of key: CRC16 (XMODEM) modulo
// 16384 of its hash tag, the text between the first '{' and the next '}'
// when not empty, else of the whole key.
func slot(key string) uint16 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for k := 0; k < len(key); k++ {
		crc ^= uint16(key[k]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc % 16384
}
