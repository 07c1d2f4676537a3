package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/coffer-hsm/coffer/internal/tlsca"
)

// envCACert names the CA certificate file coffer's clients trust (--ca-cert).
const envCACert = "COFFER_CA_CERT"

// tlsOptions are the server's TLS flags.
type tlsOptions struct {
	enabled  bool
	flags    *pflag.FlagSet
	certFile string
	keyFile  string
	sans     []string
}

func (o *tlsOptions) addFlags(f *pflag.FlagSet) {
	o.flags = f
	f.BoolVar(&o.enabled, "tls", false, "serve HTTPS (default: on without --dev, off with --dev); --tls=false in production only behind a TLS-terminating proxy on the same host")
	f.StringVar(&o.certFile, "tls-cert", "", "PEM certificate chain to serve (with --tls-key; reloaded when the files change, at once on SIGHUP); default: a certificate issued by the node's own CA in <data-dir>/tls")
	f.StringVar(&o.keyFile, "tls-key", "", "PEM private key of --tls-cert")
	f.StringArrayVar(&o.sans, "tls-san", nil, "an extra DNS name or IP address for the node's generated certificate (repeatable; loopback, the host name, the listen address and the --advertise-url host are always in it)")
}

// resolve applies the mode's default and checks the flags fit together.
func (o *tlsOptions) resolve(dev bool) error {
	if o.flags == nil || !o.flags.Changed("tls") {
		o.enabled = !dev
	}
	if (o.certFile == "") != (o.keyFile == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if !o.enabled && (o.certFile != "" || len(o.sans) > 0) {
		return errors.New("--tls-cert, --tls-key and --tls-san need TLS (they do nothing with --tls=false)")
	}
	if o.certFile != "" && len(o.sans) > 0 {
		return errors.New("--tls-san names hosts for the generated certificate; with --tls-cert, put them in your certificate")
	}
	return nil
}

// tlsRefreshEvery is how often a serving node renews its generated
// certificate or reloads --tls-cert/--tls-key when they changed (SIGHUP: at once).
const tlsRefreshEvery = time.Minute

// serveTLS wraps *ln in TLS when the node serves HTTPS and returns the URL
// scheme, and the generated identity (nil with --tls-cert or without TLS).
// Until ctx ends, the certificate is renewed or reloaded in the background.
func (n *node) serveTLS(ctx context.Context, ln *net.Listener) (string, *tlsca.Identity, error) {
	o := &n.opts.tls
	if !o.enabled {
		if !n.opts.dev {
			n.log.Warn("serving plain HTTP (--tls=false): passwords, session tokens and plaintext data keys cross the network unencrypted; use it only behind a TLS-terminating proxy on this host")
		}
		return "http", nil, nil
	}
	var (
		src *tlsca.Source
		id  *tlsca.Identity
		err error
	)
	if o.certFile != "" {
		if src, err = tlsca.FileSource(o.certFile, o.keyFile); err != nil {
			return "", nil, err
		}
	} else {
		extra := o.sans
		if u, err := url.Parse(n.opts.advertiseURL); err == nil && u.Hostname() != "" {
			extra = append(extra[:len(extra):len(extra)], u.Hostname()) // the links it hands out must verify
		}
		src, id, err = tlsca.GeneratedSource(filepath.Join(n.opts.dataDir, "tls"), certHosts((*ln).Addr(), extra), time.Now())
		if err != nil {
			return "", nil, err
		}
		if id.CACreated {
			n.log.Info("tls: made the node's CA", "ca", id.CAPath)
		}
		if id.Issued {
			n.logCert("tls: issued the server certificate", &id.Certificate)
		}
	}
	n.tlsSource.Store(src)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP) // before serving: a SIGHUP must not end the process
	go n.refreshTLS(ctx, src, hup)
	*ln = tls.NewListener(*ln, src.Config())
	return "https", id, nil
}

// refreshTLS renews or reloads src every tlsRefreshEvery and on each SIGHUP (hup).
func (n *node) refreshTLS(ctx context.Context, src *tlsca.Source, hup chan os.Signal) {
	defer signal.Stop(hup)
	t := time.NewTicker(tlsRefreshEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-hup:
			n.log.Info("tls: SIGHUP: checking the certificate")
		}
		changed, err := src.Refresh(time.Now())
		if err != nil {
			n.log.Error("tls: refreshing the certificate failed", "err", err)
		} else if changed {
			n.logCert("tls: now serving a new certificate", src.Current())
		}
	}
}

func (n *node) logCert(msg string, c *tls.Certificate) {
	l := c.Leaf // a tlsca.Source's certificates have it
	n.log.Info(msg, "names", l.DNSNames, "ips", l.IPAddresses, "serial", l.SerialNumber.Text(16), "not_after", l.NotAfter)
}

// certHosts are the names a generated server certificate covers: loopback,
// the host name, the listen address (every interface address when it is
// unspecified) and extra.
func certHosts(addr net.Addr, extra []string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	if ta, ok := addr.(*net.TCPAddr); ok {
		if ta.IP.IsUnspecified() {
			if addrs, err := net.InterfaceAddrs(); err == nil {
				for _, a := range addrs {
					if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLinkLocalUnicast() {
						hosts = append(hosts, ipn.IP.String())
					}
				}
			}
		} else {
			hosts = append(hosts, ta.IP.String())
		}
	}
	return append(hosts, extra...)
}

// caTLSConfig returns the TLS configuration of coffer's own client commands:
// one that trusts the PEM CA certificates in caFile (or $COFFER_CA_CERT when
// caFile is empty), or nil (the system's roots) when neither names a file.
func caTLSConfig(caFile string) (*tls.Config, error) {
	if caFile == "" {
		caFile = os.Getenv(envCACert)
	}
	if caFile == "" {
		return nil, nil
	}
	cfg, err := tlsca.ClientConfig(caFile)
	if err != nil {
		return nil, fmt.Errorf("--ca-cert: %w", err)
	}
	return cfg, nil
}
