package pgbus

import (
	"context"
	"time"
)

// Bounds of one run of Expire.
const (
	expireTopics   = 100  // topics looked at per page
	expireRows     = 1000 // messages removed per topic and statement
	expireMaxPages = 50   // pages per run: at most 5,000 topics
	dropIdleRows   = 1000 // idle topics removed per run
)

// retain runs Expire every RetentionInterval until stop.
func (l *listener) retain() {
	defer l.wg.Done()
	every := l.b.retentionInterval()
	if every < 0 {
		return
	}
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-l.quit:
			return
		case <-ticker.C:
		}
		_, _ = l.b.Expire(l.ctx) // the next run retries
	}
}

// Expire runs the retention job once: it removes, from the start of each
// topic's history, messages written more than HistoryTTL ago, and removes
// topics whose history is empty and whose last publication is more than
// MetaTTL ago. The work of one call is bounded (a few thousand topics, a
// thousand messages per topic, a thousand idle topics); the next call goes
// on. It returns how many messages and topics it removed.
//
// The Broker calls it every RetentionInterval; call it yourself when the
// job is disabled. Each topic is handled in a short transaction of its
// own, which holds the topic's row lock (and so delays its publishers) for
// one bounded statement.
func (b *Broker) Expire(ctx context.Context) (int64, error) {
	if err := b.begin(); err != nil {
		return 0, err
	}
	defer b.calls.Done()
	var removed int64
	if ttl := b.historyTTL(); ttl > 0 {
		age := ttl.Seconds()
		last := ""
		for range expireMaxPages {
			rows, err := b.Pool.Query(ctx, b.names.expireCandidates, last, age, expireTopics)
			if err != nil {
				return removed, b.wrap("expire", last, err)
			}
			var topics []string
			for rows.Next() {
				var t string
				if err := rows.Scan(&t); err != nil {
					rows.Close()
					return removed, b.wrap("expire", last, err)
				}
				topics = append(topics, t)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return removed, b.wrap("expire", last, err)
			}
			for _, t := range topics {
				var n int64
				if err := b.Pool.QueryRow(ctx, b.names.expire, t, age, expireRows).Scan(&n); err != nil {
					return removed, b.wrap("expire", t, err)
				}
				removed += n
			}
			if len(topics) < expireTopics {
				break
			}
			last = topics[len(topics)-1]
		}
	}
	if ttl := b.metaTTL(); ttl > 0 {
		tag, err := b.Pool.Exec(ctx, b.names.dropIdle, (ttl + b.historyTTL()).Seconds(), dropIdleRows)
		if err != nil {
			return removed, b.wrap("expire", "", err)
		}
		removed += tag.RowsAffected()
	}
	return removed, nil
}
