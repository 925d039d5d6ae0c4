package webhook

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestForbiddenAddresses(t *testing.T) {
	t.Parallel()
	bad := []string{
		"127.0.0.1", "127.1.2.3", "::1", // loopback
		"0.0.0.0", "::", // unspecified
		"10.0.0.1", "172.16.5.4", "172.31.255.255", "192.168.1.1", // private
		"169.254.169.254", "fe80::1", "fe80::1%eth0", // link-local, metadata
		"100.64.0.1", "100.127.255.254", // CGNAT
		"224.0.0.1", "239.255.255.250", "ff02::1", // multicast
		"fc00::1", "fd00:ec2::254", // unique local, AWS metadata over IPv6
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", // IPv4-mapped
		"64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b::a9fe:a9fe", // NAT64 of private ones
		"2002:7f00:1::", "2002:a00:1::", // 6to4 of private ones
		"::127.0.0.1", "::10.0.0.1", "::169.254.169.254", "::8.8.8.8", // IPv4-compatible
		"::ffff:0:127.0.0.1", "::ffff:0:10.0.0.1", "::ffff:0:8.8.8.8", // IPv4-translated
		"2001:0:4136:e378:8000:63bf:3fff:fdd2", // Teredo
		"255.255.255.255", "192.0.2.1", "198.18.0.1",
	}
	for _, s := range bad {
		assert.NotEmpty(t, forbidden(netip.MustParseAddr(s)), s)
	}
	good := []string{"8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::", "2001:4860:4860::8888"}
	for _, s := range good {
		assert.Empty(t, forbidden(netip.MustParseAddr(s)), s)
	}
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func TestSSRFRefusedBeforeConnecting(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	cl := &countingListener{Listener: srv.Listener}
	srv.Listener = cl
	srv.Start()
	defer srv.Close()
	_, port, err := net.SplitHostPort(cl.Addr().String())
	require.NoError(t, err)

	s := &Sender{} // the guard is on by default
	defer s.CloseIdleConnections()
	ep := testEndpoint(t)
	for _, host := range []string{"127.0.0.1", "[::1]", "0.0.0.0", "10.0.0.1", "169.254.169.254", "100.64.0.1",
		"224.0.0.1", "[fd00::1]", "[fe80::1]", "[::ffff:127.0.0.1]", "[64:ff9b::7f00:1]",
		"[::127.0.0.1]", "[::ffff:0:127.0.0.1]"} {
		ep.URL = "http://" + host + ":" + port + "/hook"
		a := s.Attempt(t.Context(), ep, Delivery{ID: "msg_1"})
		assert.Contains(t, a.Error, ErrForbiddenAddress.Error(), host)
		assert.Zero(t, a.Status, host)
	}
	// A name resolving to one public and one private address is refused.
	s.guard.lookup = func(context.Context, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("127.0.0.1")}, nil
	}
	ep.URL = "http://mixed.example:" + port + "/hook"
	a := s.Attempt(t.Context(), ep, Delivery{ID: "msg_1"})
	assert.Contains(t, a.Error, "mixed.example resolves to 127.0.0.1")

	// The dial-time check alone (what a rebinding resolver would meet)
	// refuses the socket before connect.
	g := &guard{}
	d := &net.Dialer{Control: g.control}
	_, err = d.DialContext(t.Context(), "tcp", cl.Addr().String())
	assert.ErrorIs(t, err, ErrForbiddenAddress)

	assert.Zero(t, cl.n.Load(), "no connection was made")
	assert.Zero(t, hits.Load())

	// Allowing private networks reaches the same server.
	allow := &Sender{AllowPrivateNetworks: true}
	defer allow.CloseIdleConnections()
	ep.URL = srv.URL
	assert.True(t, allow.Attempt(t.Context(), ep, Delivery{ID: "msg_1"}).OK())
	assert.Equal(t, int32(1), hits.Load())
}
