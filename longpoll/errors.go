package longpoll

import "github.com/pushpull/pushpull/internal/pollwire"

// A StatusError is an answer with an HTTP status the client cannot use:
// StatusCode is the status, Code and Message come from the JSON error body
// when there is one. The Client returns it for 4xx statuses that repeating
// the request cannot fix (400, 403, 404, 405 …) and retries the others. A 410
// is reported as a *bus.CursorError wrapping bus.ErrCursorExpired instead,
// with the StatusError further down the chain.
type StatusError = pollwire.StatusError
