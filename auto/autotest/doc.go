// Package autotest is a reverse proxy for tests that misbehaves the way
// real proxies and middleboxes do with streaming transports: it refuses
// WebSocket upgrades, accepts them but forwards no frame, buffers
// Server-Sent Events until the response ends, and cuts connections.
package autotest
