package bus

// An entry is a retained message and when it was stored, in nanoseconds of
// the broker's monotonic clock.
type entry struct {
	m  Message
	at int64
}

// A ring holds a topic's newest messages in a circular buffer that grows up
// to its limit. The offset of the newest message is the topic's top, so the
// offset of entry i (0 = oldest) is top-n+1+i.
type ring struct {
	buf  []entry
	head int // index of the oldest entry
	n    int // number of entries
}

// push appends e, dropping the oldest entry when max entries are held.
func (r *ring) push(e entry, max int) {
	if r.n == len(r.buf) && len(r.buf) < max {
		r.grow(max)
	}
	if r.n == len(r.buf) { // full: overwrite the oldest
		r.buf[r.head] = e
		r.head = (r.head + 1) % len(r.buf)
		return
	}
	r.buf[(r.head+r.n)%len(r.buf)] = e
	r.n++
}

func (r *ring) grow(max int) {
	size := 2 * len(r.buf)
	if size < 8 {
		size = 8
	}
	if size > max {
		size = max
	}
	buf := make([]entry, size)
	for i := 0; i < r.n; i++ {
		buf[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	r.buf, r.head = buf, 0
}

// expire drops entries stored before cutoff. An emptied ring releases its
// buffer, so an idle topic keeps no memory for history.
func (r *ring) expire(cutoff int64) {
	for r.n > 0 && r.buf[r.head].at < cutoff {
		r.buf[r.head] = entry{}
		r.head = (r.head + 1) % len(r.buf)
		r.n--
	}
	if r.n == 0 {
		r.buf, r.head = nil, 0
	}
}

// oldest returns the offset of the oldest retained entry given the top; it
// is top+1 when the ring is empty.
func (r *ring) oldest(top uint64) uint64 { return top - uint64(r.n) + 1 }

// at returns the entry with offset off; the caller checks the bounds.
func (r *ring) at(off, top uint64) *entry {
	i := int(off - r.oldest(top))
	return &r.buf[(r.head+i)%len(r.buf)]
}

// appendAfter appends to dst up to max messages that follow offset after.
// It reports false when the message after it is no longer retained.
func (r *ring) appendAfter(dst []Message, after, top uint64, max int) ([]Message, bool) {
	if after >= top {
		return dst, after == top
	}
	if after+1 < r.oldest(top) {
		return dst, false
	}
	for off := after + 1; off <= top && (max <= 0 || len(dst) < max); off++ {
		dst = append(dst, r.at(off, top).m)
	}
	return dst, true
}
