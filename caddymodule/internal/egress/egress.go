// Package egress decides which addresses widgetgate may connect to on a
// provider's behalf. Widget schemas name provider hosts, and DNS answers
// for those names can change at any time, so the check runs on the
// resolved address at connect time: a name that rebinds to 127.0.0.1 or to
// a cloud metadata service is refused even if it resolved to a public
// address a moment earlier.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrDenied is returned when a connection would reach a forbidden address.
var ErrDenied = errors.New("egress denied")

// denied are the special-purpose ranges no provider lives in: loopback,
// private, shared (CGNAT), link-local (cloud metadata at 169.254.169.254),
// documentation, benchmarking, multicast, reserved, and the IPv6
// equivalents, including NAT64 and 6to4 prefixes that embed an IPv4
// address (checked again after unwrapping).
var denied = mustPrefixes(
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
	"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
	"198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
	"::/128", "::1/128", "100::/64", "2001::/23", "2001:db8::/32", "fc00::/7", "fe80::/10", "ff00::/8",
	"fec0::/10", "64:ff9b:1::/48",
)

// nat64 and sixToFour are prefixes whose addresses embed an IPv4 address.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Policy is the operator's egress allow-list.
type Policy struct {
	// AllowNetworks are ranges allowed despite being special-purpose
	// (an internal API on 10.1.2.0/24, a test provider on 127.0.0.1/32).
	AllowNetworks []netip.Prefix
	// AllowHosts are host names (or IP literals, as written in the schema
	// URL) connected to without the address check. A host entry opens that
	// name only: "127.0.0.1" allows URLs written with 127.0.0.1, not
	// "localhost".
	AllowHosts []string
}

// ParsePolicy builds a Policy from CIDRs/IPs and host names.
func ParsePolicy(entries []string) (Policy, error) {
	var p Policy
	for _, e := range entries {
		switch {
		case strings.Contains(e, "/"):
			pfx, err := netip.ParsePrefix(e)
			if err != nil {
				return p, fmt.Errorf("egress allow %q: %w", e, err)
			}
			p.AllowNetworks = append(p.AllowNetworks, pfx.Masked())
		default:
			p.AllowHosts = append(p.AllowHosts, strings.ToLower(strings.Trim(e, "[]")))
		}
	}
	return p, nil
}

// AllowedAddr reports whether widgetgate may connect to addr.
func (p Policy) AllowedAddr(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, pfx := range p.AllowNetworks {
		if pfx.Contains(addr) {
			return true
		}
	}
	return Public(addr)
}

// Public reports whether addr is an ordinary unicast address, not in any
// special-purpose range (also after unwrapping NAT64 and 6to4).
func Public(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !addr.IsValid() {
		return false
	}
	for _, pfx := range denied {
		if pfx.Contains(addr) {
			return false
		}
	}
	if addr.Is6() {
		b := addr.As16()
		switch {
		case nat64.Contains(addr):
			return Public(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(addr):
			return Public(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	return true
}

// AllowedLiteral reports whether a URL may name host, an IP literal: only
// when the operator allow-listed it (as a host or a network). Schemas
// address providers by name; an IP in a widget package is suspicious.
func (p Policy) AllowedLiteral(host string) bool {
	if p.allowedHost(host) {
		return true
	}
	addr, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return true // not a literal
	}
	for _, pfx := range p.AllowNetworks {
		if pfx.Contains(addr.Unmap()) {
			return true
		}
	}
	return false
}

func (p Policy) allowedHost(host string) bool {
	host = strings.ToLower(host)
	for _, h := range p.AllowHosts {
		if h == host {
			return true
		}
	}
	return false
}

// Error says which connection was refused, naming the host and the
// address it resolved to.
type Error struct {
	Host string
	Addr string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s resolves to %s, a loopback, private, link-local or otherwise special-purpose address (allow it with egress_allow)", ErrDenied, e.Host, e.Addr)
}

func (e *Error) Unwrap() error { return ErrDenied }

// DialContext returns a dial function that applies p. The address check
// runs in the dialer's Control hook, on the IP actually being connected
// to, after resolution: no DNS trick can slip between check and use.
func (p Policy) DialContext(timeout, keepAlive time.Duration) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		d := &net.Dialer{Timeout: timeout, KeepAlive: keepAlive}
		if !p.allowedHost(host) {
			d.Control = func(_, resolved string, _ syscall.RawConn) error {
				ip, _, err := net.SplitHostPort(resolved)
				if err != nil {
					return err
				}
				addr, err := netip.ParseAddr(ip)
				if err != nil || !p.AllowedAddr(addr) {
					return &Error{Host: host, Addr: ip}
				}
				return nil
			}
		}
		return d.DialContext(ctx, network, address)
	}
}
