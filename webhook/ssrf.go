package webhook

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// forbiddenPrefixes are the networks the SSRF guard refuses by default.
var forbiddenPrefixes = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // unspecified, "this network"
		"10.0.0.0/8",      // private
		"100.64.0.0/10",   // carrier-grade NAT
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local, cloud metadata 169.254.169.254
		"172.16.0.0/12",   // private
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"192.168.0.0/16",  // private
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, broadcast
		"::/128",          // unspecified
		"::1/128",         // loopback
		"::/96",           // IPv4-compatible ::a.b.c.d (deprecated)
		"::ffff:0:0:0/96", // IPv4-translated ::ffff:0:a.b.c.d (SIIT)
		"2001::/32",       // Teredo, an IPv4 tunnel
		"100::/64",        // discard
		"2001:db8::/32",   // documentation
		"fc00::/7",        // unique local (incl. fd00:ec2::254)
		"fe80::/10",       // link-local
		"fec0::/10",       // site-local (deprecated)
		"ff00::/8",        // multicast
	} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()

var (
	nat64    = netip.MustParsePrefix("64:ff9b::/96")
	nat64loc = netip.MustParsePrefix("64:ff9b:1::/48")
	sixTo4   = netip.MustParsePrefix("2002::/16")
)

// forbidden reports why ip must not be dialed, or "" when it may be.
// IPv4 addresses embedded in IPv6 (mapped ::ffff:a.b.c.d, NAT64
// 64:ff9b::a.b.c.d, 6to4 2002:aabb:ccdd::) are judged by their IPv4 part.
// The other embeddings (IPv4-compatible ::a.b.c.d, IPv4-translated
// ::ffff:0:a.b.c.d, Teredo) have no legitimate use for a webhook endpoint
// and are refused whatever address they carry.
func forbidden(ip netip.Addr) string {
	ip = ip.WithZone("")
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	if ip.Is6() {
		b := ip.As16()
		switch {
		case nat64.Contains(ip):
			return forbidden(netip.AddrFrom4([4]byte(b[12:16])))
		case nat64loc.Contains(ip):
			return "NAT64 local-use"
		case sixTo4.Contains(ip):
			return forbidden(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	for _, p := range forbiddenPrefixes {
		if p.Contains(ip) {
			return p.String()
		}
	}
	if !ip.IsGlobalUnicast() {
		return "not global unicast"
	}
	return ""
}

// allowHint ends the guard's errors: a refused test endpoint on localhost
// is the first thing many users meet.
const allowHint = "; set Sender.AllowPrivateNetworks to deliver to loopback and private networks"

// guard is the SSRF defence of the Sender's default transport.
type guard struct {
	allowPrivate bool
	timeout      time.Duration
	// lookup resolves host names; nil means net.DefaultResolver.
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

// control runs between socket creation and connect, on the address about
// to be dialed: the last word, which DNS rebinding cannot get around.
func (g *guard) control(network, address string, _ syscall.RawConn) error {
	if g.allowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s: %v%s", ErrForbiddenAddress, address, err, allowHint)
	}
	if why := forbidden(ap.Addr()); why != "" {
		return fmt.Errorf("%w: %s (%s)%s", ErrForbiddenAddress, ap.Addr(), why, allowHint)
	}
	return nil
}

// dialContext resolves the host itself and refuses when any of its
// addresses is forbidden, then dials the vetted addresses with control as a
// second check.
func (g *guard) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: g.timeout, Control: g.control}
	if g.allowPrivate {
		return d.DialContext(ctx, network, addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		lookup := g.lookup
		if lookup == nil {
			lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
				return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
			}
		}
		if ips, err = lookup(ctx, host); err != nil {
			return nil, err
		}
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("webhook: %s has no address", host)
	}
	for _, ip := range ips {
		if why := forbidden(ip); why != "" {
			return nil, fmt.Errorf("%w: %s resolves to %s (%s)%s", ErrForbiddenAddress, host, ip, why, allowHint)
		}
	}
	var last error
	for _, ip := range ips {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		last = err
	}
	return nil, last
}
