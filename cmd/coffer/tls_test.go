package main

import (
	"net"
	"os"
	"strings"
	"testing"
)

// The links a node hands out (SNS SubscribeURL...) name a reachable address.
func TestAdvertisedBase(t *testing.T) {
	host, _ := os.Hostname()
	for _, c := range []struct {
		scheme, addr, advertise, want string
	}{
		{"https", "127.0.0.1:8990", "", "https://127.0.0.1:8990/"},
		{"http", "[::1]:8990", "", "http://[::1]:8990/"},
		{"https", "0.0.0.0:8990", "", "https://" + net.JoinHostPort(host, "8990") + "/"},
		{"https", "[::]:8990", "", "https://" + net.JoinHostPort(host, "8990") + "/"},
		{"https", "0.0.0.0:8990", "https://coffer.example.com:8443", "https://coffer.example.com:8443/"},
		{"https", "0.0.0.0:8990", "https://proxy.example.com/coffer/", "https://proxy.example.com/coffer/"},
	} {
		a, err := net.ResolveTCPAddr("tcp", c.addr)
		if err != nil {
			t.Fatal(err)
		}
		got, err := advertisedBase(c.scheme, a, c.advertise)
		if err != nil || got != c.want {
			t.Errorf("%s %s %q: %q %v, want %q", c.scheme, c.addr, c.advertise, got, err, c.want)
		}
	}
	for _, bad := range []string{"coffer.example.com", "ftp://x/", "https://", "https://x/?a=1", "::"} {
		a, _ := net.ResolveTCPAddr("tcp", "127.0.0.1:1")
		if _, err := advertisedBase("https", a, bad); err == nil || !strings.Contains(err.Error(), "--advertise-url") {
			t.Errorf("%q accepted: %v", bad, err)
		}
	}
}
