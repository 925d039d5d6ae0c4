package auto

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pushpull/pushpull/auth"
	"github.com/pushpull/pushpull/bus"
	"github.com/pushpull/pushpull/internal/pollwire"
	"github.com/pushpull/pushpull/internal/retry"
)

// Defaults of the Client's fields.
const (
	DefaultConnectTimeout  = 5 * time.Second
	DefaultProbeInterval   = 15 * time.Second
	DefaultProbeTimeout    = 5 * time.Second
	DefaultUpgradeInterval = 30 * time.Second
	DefaultBuffer          = 16
)

// maxUpgradeBackoff bounds the growth of the wait between upgrade attempts:
// at most this many times UpgradeInterval.
const maxUpgradeBackoff = 10

// Client subscribes to topics of a Handler over the best transport that
// works, and publishes to them over HTTP. It implements bus.Subscriber and
// bus.Publisher.
//
// Each subscription uses one transport at a time, the first of the
// server's list (or of Transports) that opens within ConnectTimeout; one
// that fails, is refused, or stops delivering (see the package
// documentation on probes) is left for the next, and the best is tried
// again every UpgradeInterval. Every message passes one bus.Tracker, so
// whatever the switches, each arrives once and in order; a cursor the
// server cannot serve ends the subscription with a *bus.CursorError
// carrying the top, as with every other client.
//
// Over WebSocket each subscription has a connection of its own (a
// ws.Client), so one slow consumer never stalls another topic.
//
// Create one with NewClient or as a struct literal with URL set. Fields
// must not be changed after the first call. A Client is safe for
// concurrent use; each subscription runs one goroutine (and those of the
// transport client it uses), which end before its Close returns.
type Client struct {
	// URL is the Handler's address: its Prefix on the server, such as
	// "https://example.com/rt". Routes are URL + "/negotiate" and so on.
	URL string
	// HTTPClient sends every request, WebSocket handshakes included. Nil
	// means http.DefaultClient. Its Timeout, if any, would cut streams and
	// held requests: leave it zero.
	HTTPClient *http.Client
	// Header is added to every request, for example Authorization.
	Header http.Header
	// Token, when set, is asked for the bearer token of every request,
	// WebSocket handshakes included (HTTPClient's transport is wrapped in
	// an auth.Transport): when the server ends a live connection because
	// its credentials expired (an SSE stream, a ws connection closed with
	// ws.CloseExpired, a held long poll answered), the transport in use
	// comes back with a fresh token and goes on from the subscription's
	// cursor, whatever transport it is or falls back to. Token should
	// return a token that stays valid for a while (refresh ahead of its
	// expiry): a request refused with 401 ends the subscription with a
	// *StatusError. Nil means no token beyond Header.
	Token func(ctx context.Context) (string, error)
	// Transports lists the transports to use, in order of preference.
	// Nil means the server's order. Transports the server does not offer
	// are skipped.
	Transports []string
	// ConnectTimeout bounds the opening of a transport: the WebSocket
	// handshake and the subscription's ack, the head of the SSE stream,
	// the first (un-held) long-polling or polling answer. Zero means
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// ProbeInterval is how long a subscription may receive nothing before
	// the Client asks the server for the topic's top. Zero means
	// DefaultProbeInterval.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a transport has to deliver once the top
	// shows messages it has not delivered. Zero means DefaultProbeTimeout.
	ProbeTimeout time.Duration
	// UpgradeInterval is the wait before a subscription that fell back
	// tries the better transports again; it doubles after each failed
	// attempt, up to ten times UpgradeInterval. Zero means
	// DefaultUpgradeInterval.
	UpgradeInterval time.Duration
	// PollInterval is the least time between two polls of the polling
	// transport. Zero means poll.DefaultInterval; the server's advice wins
	// when longer.
	PollInterval time.Duration
	// Buffer is the capacity of each subscription's channel. Zero means
	// DefaultBuffer.
	Buffer int
	// Logger receives transport switches at info level and failed
	// attempts at debug level. Nil means nothing is logged.
	Logger *slog.Logger

	hcOnce sync.Once
	hc     *http.Client
}

var (
	_ bus.Subscriber = (*Client)(nil)
	_ bus.Publisher  = (*Client)(nil)
)

// NewClient returns a Client for the Handler at url (see Client.URL).
func NewClient(url string) *Client { return &Client{URL: url} }

func (c *Client) connectTimeout() time.Duration {
	return orDefault(c.ConnectTimeout, DefaultConnectTimeout)
}
func (c *Client) probeInterval() time.Duration {
	return orDefault(c.ProbeInterval, DefaultProbeInterval)
}
func (c *Client) probeTimeout() time.Duration { return orDefault(c.ProbeTimeout, DefaultProbeTimeout) }
func (c *Client) upgradeInterval() time.Duration {
	return orDefault(c.UpgradeInterval, DefaultUpgradeInterval)
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (c *Client) buffer() int {
	if c.Buffer > 0 {
		return c.Buffer
	}
	return DefaultBuffer
}

// httpClient returns the client of every request: HTTPClient, with Token's
// transport when Token is set.
func (c *Client) httpClient() *http.Client {
	c.hcOnce.Do(func() {
		c.hc = c.HTTPClient
		if c.Token == nil {
			return
		}
		hc := http.Client{}
		if c.HTTPClient != nil {
			hc = *c.HTTPClient
		}
		hc.Transport = &auth.Transport{Token: c.Token, Base: hc.Transport}
		c.hc = &hc
	})
	if c.hc != nil {
		return c.hc
	}
	return http.DefaultClient
}

// transportHTTPClient is the HTTPClient of the transports' clients: nil
// (their default) when neither HTTPClient nor Token is set.
func (c *Client) transportHTTPClient() *http.Client {
	if c.HTTPClient == nil && c.Token == nil {
		return nil
	}
	return c.httpClient()
}

func (c *Client) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// route returns the absolute URL of a route of the Handler with the query q.
func (c *Client) route(name string, q url.Values) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(c.URL, "/") + "/" + name)
	if err != nil {
		return "", fmt.Errorf("auto: client URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("auto: client URL %q is not an absolute http or https URL", u.Redacted())
	}
	if q != nil {
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// A transport is one entry of the negotiate answer, its URL absolute.
type transport struct {
	name, url string
}

// negotiation is what a negotiate request learnt.
type negotiation struct {
	transports []transport // in the order to try, filtered by Client.Transports
	top        string
	latest     string // the cursor of bus.Latest, when asked for
}

// negotiate asks the Handler for its transports and topic's top, and with
// after bus.Latest for the cursor it resolves to.
func (c *Client) negotiate(ctx context.Context, topic string, after ...string) (negotiation, error) {
	q := url.Values{"topic": {topic}}
	if len(after) > 0 && after[0] == bus.Latest {
		q.Set("after", bus.Latest)
	}
	base, err := c.route("negotiate", q)
	if err != nil {
		return negotiation{}, err
	}
	body, err := c.do(ctx, http.MethodGet, base, nil)
	if err != nil {
		return negotiation{}, err
	}
	var a negotiateAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return negotiation{}, fmt.Errorf("auto: negotiate answer: %w", err)
	}
	bu, _ := url.Parse(base)
	offered := make(map[string]string)
	var order []string
	for _, t := range a.Transports {
		ref, err := url.Parse(t.URL)
		if err != nil {
			continue
		}
		offered[t.Name] = bu.ResolveReference(ref).String()
		order = append(order, t.Name)
	}
	if c.Transports != nil {
		order = c.Transports
	}
	n := negotiation{top: a.Top, latest: a.Latest}
	for _, name := range order {
		if u, ok := offered[name]; ok && opener(name) != nil {
			n.transports = append(n.transports, transport{name: name, url: u})
		}
	}
	if len(n.transports) == 0 {
		return n, fmt.Errorf("%w: the server offers none of %q", ErrNoTransport, order)
	}
	return n, nil
}

// do sends a request and returns the body of a 200 answer, or the refusal
// as an error.
func (c *Client) do(ctx context.Context, method, u string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("auto: %w", err)
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", pollwire.ContentType)
	if body != nil {
		req.Header.Set("Content-Type", pollwire.ContentType)
	}
	res, err := c.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("auto: %s %s: %w", method, u, err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("auto: %s %s: %w", method, u, err)
	}
	if res.StatusCode != http.StatusOK {
		st := retry.ReadStatus(res, out, time.Now())
		se := newStatusError(st)
		switch st.Code {
		case pollwire.CodeInvalidTopic:
			return nil, fmt.Errorf("auto: %w (%w)", bus.ErrInvalidTopic, se)
		case codeInvalidMessage:
			return nil, fmt.Errorf("auto: %w (%w)", bus.ErrInvalidMessage, se)
		}
		return nil, se
	}
	return out, nil
}

// Publish implements bus.Publisher: it POSTs m to the Handler's publish
// route and returns the stored message with its ID and Time. It is not
// retried (the message may have been stored when an answer is lost).
// Refusals are *StatusError values; an invalid topic or message also
// wraps bus.ErrInvalidTopic or bus.ErrInvalidMessage.
func (c *Client) Publish(ctx context.Context, topic string, m bus.Message) (bus.Message, error) {
	if err := bus.ValidateTopic(topic); err != nil {
		return bus.Message{}, err
	}
	u, err := c.route("publish", url.Values{"topic": {topic}})
	if err != nil {
		return bus.Message{}, err
	}
	p := publishRequest{Type: m.Type, Meta: m.Meta}
	if utf8.Valid(m.Data) {
		s := string(m.Data)
		p.Data = &s
	} else {
		s := base64.StdEncoding.EncodeToString(m.Data)
		p.Data64 = &s
	}
	body, err := json.Marshal(p)
	if err != nil {
		return bus.Message{}, fmt.Errorf("auto: %w: %v", bus.ErrInvalidMessage, err)
	}
	out, err := c.do(ctx, http.MethodPost, u, body)
	if err != nil {
		return bus.Message{}, err
	}
	var a publishAnswer
	if err := json.Unmarshal(out, &a); err != nil || a.ID == "" {
		return bus.Message{}, errors.New("auto: publish answer without an id")
	}
	m.Topic, m.ID = topic, a.ID
	if t, err := time.Parse(time.RFC3339Nano, a.Time); err == nil {
		m.Time = t
	}
	return m, nil
}
