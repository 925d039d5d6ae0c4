package autotest

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
)

// A Fault is a set of misbehaviours.
type Fault uint32

// The faults a Proxy can show; they combine with |.
const (
	// RefuseWebSocket strips the Upgrade header of WebSocket handshakes,
	// as a proxy that does not know WebSocket does: the server sees a
	// plain GET and refuses it.
	RefuseWebSocket Fault = 1 << iota
	// MuteWebSocket forwards the handshake's 101 answer but no byte the
	// server sends after it, on new connections and on open ones from the
	// moment it is set: the connection stays open and silent.
	MuteWebSocket
	// BufferSSE holds text/event-stream answers, head and body, until
	// they end.
	BufferSSE
)

// Proxy forwards requests to one server, with the faults set. Its methods
// are safe for concurrent use.
type Proxy struct {
	target atomic.Pointer[url.URL]
	srv    *httptest.Server
	rp     *httputil.ReverseProxy
	tr     *http.Transport
	faults atomic.Uint32

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup

	upgrades atomic.Int64
}

// New starts a Proxy in front of the server at target (an http URL).
func New(target string) *Proxy {
	u, err := url.Parse(target)
	if err != nil {
		panic("autotest: " + err.Error())
	}
	p := &Proxy{conns: make(map[net.Conn]struct{}), tr: &http.Transport{}}
	p.target.Store(u)
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(p.target.Load())
			r.Out.Host = r.In.Host // as a front proxy does: origin checks still see the site's host
		},
		Transport:     p.tr,
		FlushInterval: -1,
		ErrorLog:      nil,
		ErrorHandler:  func(w http.ResponseWriter, r *http.Request, err error) { w.WriteHeader(http.StatusBadGateway) },
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch s {
		case http.StateNew:
			p.conns[c] = struct{}{}
		case http.StateClosed:
			delete(p.conns, c)
		}
	}
	p.srv.Start()
	return p
}

// URL returns the proxy's base URL.
func (p *Proxy) URL() string { return p.srv.URL }

// SetTarget sends the requests that come from now on to the server at
// target, as a load balancer moving clients to another instance; CutAll
// moves the open connections too.
func (p *Proxy) SetTarget(target string) {
	u, err := url.Parse(target)
	if err != nil {
		panic("autotest: " + err.Error())
	}
	p.target.Store(u)
}

// SetFaults replaces the faults shown from now on.
func (p *Proxy) SetFaults(f Fault) { p.faults.Store(uint32(f)) }

func (p *Proxy) has(f Fault) bool { return Fault(p.faults.Load())&f != 0 }

// Upgrades returns how many WebSocket handshakes reached the server.
func (p *Proxy) Upgrades() int64 { return p.upgrades.Load() }

// CutAll closes every client connection open now, WebSocket ones included,
// and returns how many it closed.
func (p *Proxy) CutAll() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	return len(p.conns)
}

// Close cuts every connection, stops the proxy and waits for its
// goroutines.
func (p *Proxy) Close() {
	p.CutAll()
	p.srv.Close()
	p.wg.Wait()
	p.tr.CloseIdleConnections()
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		if p.has(RefuseWebSocket) {
			r.Header.Del("Upgrade")
			r.Header.Del("Connection")
			p.rp.ServeHTTP(w, r)
			return
		}
		p.tunnel(w, r)
		return
	}
	if p.has(BufferSSE) {
		bw := &bufferWriter{w: w}
		p.rp.ServeHTTP(bw, r)
		if bw.hold {
			w.WriteHeader(bw.status)
			_, _ = w.Write(bw.body.Bytes())
		}
		return
	}
	p.rp.ServeHTTP(w, r)
}

// tunnel forwards a WebSocket handshake and then the bytes both ways,
// muting the server's while MuteWebSocket is set.
func (p *Proxy) tunnel(w http.ResponseWriter, r *http.Request) {
	back, err := net.Dial("tcp", p.target.Load().Host)
	if err != nil {
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	client, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		back.Close()
		return
	}
	p.mu.Lock()
	p.conns[client] = struct{}{}
	p.wg.Add(2)
	p.mu.Unlock()
	p.upgrades.Add(1)
	defer func() {
		p.mu.Lock()
		delete(p.conns, client)
		p.mu.Unlock()
	}()
	r.URL.Scheme, r.URL.Host = "", ""
	r.RequestURI = ""
	go func() {
		defer p.wg.Done()
		defer back.Close()
		if err := r.Write(back); err != nil {
			return
		}
		// Forward what the client sent after its request, then the rest.
		if n := rw.Reader.Buffered(); n > 0 {
			b, _ := rw.Reader.Peek(n)
			if _, err := back.Write(b); err != nil {
				return
			}
		}
		buf := make([]byte, 32<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				if _, werr := back.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	func() {
		defer p.wg.Done()
		defer client.Close()
		defer back.Close()
		br := bufio.NewReader(back)
		res, err := http.ReadResponse(br, r)
		if err != nil {
			return
		}
		if err := res.Write(client); err != nil || res.StatusCode != http.StatusSwitchingProtocols {
			return
		}
		muted := false
		buf := make([]byte, 32<<10)
		for {
			n, err := br.Read(buf)
			muted = muted || p.has(MuteWebSocket)
			if n > 0 && !muted {
				if _, werr := client.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
}

// bufferWriter holds a whole text/event-stream answer, and passes any
// other through.
type bufferWriter struct {
	w      http.ResponseWriter
	hold   bool
	status int
	body   bytes.Buffer
}

func (b *bufferWriter) Header() http.Header { return b.w.Header() }

func (b *bufferWriter) WriteHeader(s int) {
	if b.status != 0 {
		return
	}
	b.status = s
	b.hold = strings.HasPrefix(b.w.Header().Get("Content-Type"), "text/event-stream")
	if !b.hold {
		b.w.WriteHeader(s)
	}
}

func (b *bufferWriter) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	if b.hold {
		return b.body.Write(p)
	}
	return b.w.Write(p)
}

// Flush passes answers that are not held on at once.
func (b *bufferWriter) Flush() {
	if !b.hold {
		_ = http.NewResponseController(b.w).Flush()
	}
}
