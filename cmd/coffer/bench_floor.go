package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// The HTTP floor: what a Go net/http server on this machine spends per request
// when it does nothing but read the request and write a fixed KMS Encrypt
// answer. `coffer bench --ops http-floor` starts it as a child process (so that
// its CPU time is its own), drives it with the same aws-sdk-go-v2 Encrypt calls
// as the encrypt op and reports its CPU per request, side by side with the
// node's in one run. The difference between the two rows is what Coffer adds:
// SigV4 verification, authorization, the HSM, the audit trail.

const (
	benchFloor    = "http-floor"
	benchRawFloor = "raw-floor" // a minimal HTTP/1.1 loop instead of net/http
)

// floorEncryptAnswer is a well-formed Encrypt response the SDK accepts.
var floorEncryptAnswer = []byte(`{"CiphertextBlob":"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8w","EncryptionAlgorithm":"SYMMETRIC_DEFAULT","KeyId":"arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000"}`)

func newBenchFloorCmd() *cobra.Command {
	var minimal bool
	cmd := &cobra.Command{
		Use:    "bench-floor",
		Short:  "Serve a bare HTTP endpoint with a fixed Encrypt answer (started by coffer bench --ops http-floor,raw-floor)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if minimal {
				return serveMinimalFloor(ctx, cmd.OutOrStdout(), os.Stdin)
			}
			return serveFloor(ctx, cmd.OutOrStdout(), os.Stdin)
		},
	}
	cmd.Flags().BoolVar(&minimal, "minimal", false, "a minimal HTTP/1.1 loop instead of net/http")
	return cmd
}

// floorRequestID is the x-amzn-RequestId of every floor answer.
const floorRequestID = "00000000-0000-4000-8000-000000000000"

// floorHealth is a floor server's /health body, with its CPU time so far.
func floorHealth() []byte {
	return []byte(`{"status":"ok","cpu_seconds":` + strconv.FormatFloat(processCPUSeconds(), 'f', 6, 64) + `}`)
}

// floorListen listens on an ephemeral loopback port, writes "listening <url>"
// to out, and calls stop once ctx ends or parent (the bench's pipe; nil: only
// ctx) closes.
func floorListen(ctx context.Context, out io.Writer, parent io.Reader, stop func(net.Listener)) (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "listening http://%s\n", ln.Addr())
	gone := make(chan struct{})
	if parent != nil {
		go func() {
			io.Copy(io.Discard, parent) // returns when the bench exits
			close(gone)
		}()
	}
	go func() {
		select {
		case <-ctx.Done():
		case <-gone:
		}
		stop(ln)
	}()
	return ln, nil
}

// serveFloor serves the floor with net/http until ctx ends or parent closes.
func serveFloor(ctx context.Context, out io.Writer, parent io.Reader) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(floorHealth())
	})
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20)); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/x-amz-json-1.1")
		h.Set("x-amzn-RequestId", floorRequestID)
		w.Write(floorEncryptAnswer)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ln, err := floorListen(ctx, out, parent, func(net.Listener) { srv.Close() })
	if err != nil {
		return err
	}
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// serveMinimalFloor is serveFloor with a minimal HTTP/1.1 server: one
// goroutine per connection reads a request line, headers and a
// Content-Length body, and answers GET /health (with cpu_seconds) or the
// fixed Encrypt answer; anything else (chunked bodies, oversized headers,
// malformed lines) closes the connection. Not a general HTTP server: a floor.
func serveMinimalFloor(ctx context.Context, out io.Writer, parent io.Reader) error {
	ln, err := floorListen(ctx, out, parent, func(ln net.Listener) { ln.Close() })
	if err != nil {
		return err
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go serveMinimalConn(c)
	}
}

func serveMinimalConn(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 8192)
	bw := bufio.NewWriterSize(c, 8192)
	var body []byte
	for {
		c.SetReadDeadline(time.Now().Add(2 * time.Minute))
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		health := strings.HasPrefix(string(line), "GET /health ")
		length := 0
		for {
			h, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(h) <= 2 {
				break
			}
			name, value, ok := strings.Cut(string(h), ":")
			switch {
			case !ok:
				return
			case strings.EqualFold(name, "Content-Length"):
				if length, err = strconv.Atoi(strings.TrimSpace(value)); err != nil || length < 0 || length > 1<<20 {
					return
				}
			case strings.EqualFold(name, "Transfer-Encoding"):
				return
			}
		}
		body = slices.Grow(body[:0], length)[:length]
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		answer, ctype := floorEncryptAnswer, "application/x-amz-json-1.1"
		if health {
			answer, ctype = floorHealth(), "application/json"
		}
		fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nX-Amzn-Requestid: %s\r\nDate: %s\r\nContent-Length: %d\r\n\r\n",
			ctype, floorRequestID, time.Now().UTC().Format(http.TimeFormat), len(answer))
		bw.Write(answer)
		if br.Buffered() == 0 && bw.Flush() != nil {
			return
		}
	}
}

// floorProcess is a running bench-floor child.
type floorProcess struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	endpoint *url.URL
}

// startFloor starts this executable's bench-floor command (--minimal when
// minimal) and waits for its address.
func startFloor(ctx context.Context, minimal bool) (*floorProcess, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"bench-floor"}
	if minimal {
		args = append(args, "--minimal")
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the HTTP floor server: %w", err)
	}
	p := &floorProcess{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		p.stop()
		return nil, fmt.Errorf("the HTTP floor server did not start (%q, %v)", line, err)
	}
	if p.endpoint, err = loopbackEndpoint(addr); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// stop ends the child: closing its stdin makes it exit; it is killed (by its
// PID, through cmd.Process) if it has not after a few seconds.
func (p *floorProcess) stop() {
	p.stdin.Close()
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}
