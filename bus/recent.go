package bus

// recent holds the newest contiguous messages the feed delivered for a topic
// in a circular buffer that grows up to the Hub's Recent.
type recent struct {
	epoch string
	first uint64 // offset of buf[head]
	buf   []Message
	head  int
	n     int
}

// add appends the message at p; a message that does not follow the newest
// one held starts the buffer afresh.
func (r *recent) add(p Position, m Message, recentMax int) {
	end := r.first + uint64(r.n) // offset the next message should have
	if r.n > 0 && (p.Epoch != r.epoch || p.Offset != end) {
		if p.Epoch == r.epoch && p.Offset < end {
			return // already held
		}
		clear(r.buf)
		r.head, r.n = 0, 0
	}
	if r.n == 0 {
		r.epoch, r.first = p.Epoch, p.Offset
	}
	if r.n == len(r.buf) && len(r.buf) < recentMax {
		buf := make([]Message, min(max(2*len(r.buf), 8), recentMax))
		for i := range r.n {
			buf[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = buf, 0
	}
	if r.n == len(r.buf) {
		r.buf[r.head] = m
		r.head = (r.head + 1) % len(r.buf)
		r.first++
		return
	}
	r.buf[(r.head+r.n)%len(r.buf)] = m
	r.n++
}

// appendAfter appends to dst up to limit held messages that follow offset
// after of epoch; it appends nothing unless the next one is held.
func (r *recent) appendAfter(dst []Message, epoch string, after uint64, limit int) []Message {
	if epoch == "" && after == 0 {
		epoch = r.epoch // Origin: the topic's first message, if held
	}
	if r.n == 0 || epoch != r.epoch || after+1 < r.first {
		return dst
	}
	for off := after + 1; off < r.first+uint64(r.n) && len(dst) < limit; off++ {
		dst = append(dst, r.buf[(r.head+int(off-r.first))%len(r.buf)])
	}
	return dst
}
