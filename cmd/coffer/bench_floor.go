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

const benchFloor = "http-floor"

// floorEncryptAnswer is a well-formed Encrypt response the SDK accepts.
var floorEncryptAnswer = []byte(`{"CiphertextBlob":"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8w","EncryptionAlgorithm":"SYMMETRIC_DEFAULT","KeyId":"arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000"}`)

func newBenchFloorCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "bench-floor",
		Short:  "Serve a bare HTTP endpoint with a fixed Encrypt answer (started by coffer bench --ops http-floor)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serveFloor(ctx, cmd.OutOrStdout(), os.Stdin)
		},
	}
}

// serveFloor listens on an ephemeral loopback port, writes "listening <url>"
// to out, and serves until ctx ends or parent (the bench's pipe) closes.
func serveFloor(ctx context.Context, out io.Writer, parent io.Reader) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"ok","cpu_seconds":%s}`, strconv.FormatFloat(processCPUSeconds(), 'f', 6, 64))
	})
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20)); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/x-amz-json-1.1")
		h.Set("x-amzn-RequestId", "00000000-0000-4000-8000-000000000000")
		w.Write(floorEncryptAnswer)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(out, "listening http://%s\n", ln.Addr())
	go func() {
		if parent != nil {
			io.Copy(io.Discard, parent) // returns when the bench exits
		} else {
			<-ctx.Done()
		}
		srv.Close()
	}()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// floorProcess is a running bench-floor child.
type floorProcess struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	endpoint *url.URL
}

// startFloor starts this executable's bench-floor command and waits for its address.
func startFloor(ctx context.Context) (*floorProcess, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "bench-floor")
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
