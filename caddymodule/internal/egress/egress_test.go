package egress

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestPublic(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"8.8.8.8", true}, {"142.250.185.78", true}, {"2607:f8b0:4004:c1b::65", true},
		{"127.0.0.1", false}, {"127.255.255.254", false}, {"::1", false},
		{"10.1.2.3", false}, {"172.16.0.1", false}, {"172.31.255.255", false}, {"192.168.1.1", false},
		{"169.254.169.254", false}, {"fd00:ec2::254", false}, {"fe80::1", false},
		{"100.64.0.1", false}, {"0.0.0.0", false}, {"::", false}, {"255.255.255.255", false},
		{"224.0.0.1", false}, {"ff02::1", false}, {"198.18.0.1", false}, {"192.0.0.170", false},
		{"::ffff:127.0.0.1", false}, {"::ffff:169.254.169.254", false}, // IPv4-mapped
		{"64:ff9b::7f00:1", false}, {"64:ff9b::a9fe:a9fe", false}, {"64:ff9b::808:808", true}, // NAT64
		{"2002:7f00:1::", false}, {"2002:a9fe:a9fe::", false}, {"2002:808:808::", true}, // 6to4
		{"fc00::1", false},
	}
	for _, tc := range tests {
		if got := Public(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Public(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

// The guard runs on the address being connected to. Dialing the refused
// addresses never sends a packet: Control fails before connect(2).
func TestDialGuard(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	ctx := context.Background()

	strict, _ := ParsePolicy(nil)
	dial := strict.DialContext(time.Second, 0)
	for _, target := range []string{"127.0.0.1:" + port, "localhost:" + port, "169.254.169.254:80", "10.0.0.1:80", "[::1]:" + port, "[::ffff:127.0.0.1]:" + port} {
		_, err := dial(ctx, "tcp", target)
		var ee *Error
		if !errors.As(err, &ee) || !errors.Is(err, ErrDenied) {
			t.Errorf("dial %s: %v, want egress denied", target, err)
		}
	}

	byNet, _ := ParsePolicy([]string{"127.0.0.1/32"})
	if c, err := byNet.DialContext(time.Second, 0)(ctx, "tcp", "localhost:"+port); err != nil {
		t.Errorf("allow-listed network: %v", err)
	} else {
		c.Close()
	}
	byHost, _ := ParsePolicy([]string{"127.0.0.1"})
	if c, err := byHost.DialContext(time.Second, 0)(ctx, "tcp", "127.0.0.1:"+port); err != nil {
		t.Errorf("allow-listed host: %v", err)
	} else {
		c.Close()
	}
	if _, err := byHost.DialContext(time.Second, 0)(ctx, "tcp", "[::1]:"+port); !errors.Is(err, ErrDenied) {
		t.Errorf("a host allow-list entry must not open other loopback addresses: %v", err)
	}
	if _, err := ParsePolicy([]string{"10.0.0.0/33"}); err == nil {
		t.Error("bad CIDR accepted")
	}
}
