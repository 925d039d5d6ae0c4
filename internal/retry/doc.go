// Package retry holds the retry policy that every client shares (poll,
// longpoll, sse and ws) and the backoff and Retry-After rules the webhook
// sender uses too, so the four transports agree on what is retried, how long
// they wait and how a refusal reads:
//
//   - [Retryable] decides retry-or-stop for a status: network errors and
//     408, 425, 429, 500, 502, 503, 504 (and other 5xx but 501 and 505) are
//     retried; 400, 401, 403, 404 and the other statuses end a
//     subscription with the client's StatusError.
//   - [NewBackOff] is the exponential backoff with jitter between tries,
//     [RetryAfter] parses the server's Retry-After (seconds or an HTTP
//     date, clamped to [MaxRetryAfter]) and [Wait] combines the two.
//   - [ReadStatus] reads a refused answer into a [Status], whose fields each
//     client's StatusError repeats and whose [Status.Text] is its Error
//     text.
package retry
