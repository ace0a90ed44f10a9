// Command holdconns opens N keep-alive connections to an HTTP server, makes
// one request on each (so the server sees a finished request and an idle
// keep-alive connection), prints "ready" and holds them until its standard
// input closes. bench/run measures the server's resident memory before and
// after, per held connection.
package main

import (
	"bufio"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "server address")
	n := flag.Int("n", 9000, "connections")
	path := flag.String("path", "/1k.bin", "path to request on each connection")
	useTLS := flag.Bool("tls", false, "connect with TLS (certificates not verified)")
	flag.Parse()
	var rl syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	rl.Cur = rl.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)

	conns := make([]net.Conn, *n)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	req := []byte("GET " + *path + " HTTP/1.1\r\nHost: bench\r\n\r\n")
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < *n; i += 16 {
				c, err := net.DialTimeout("tcp", *addr, 10*time.Second)
				if err != nil {
					errs <- err
					return
				}
				if *useTLS {
					tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
					if err := tc.Handshake(); err != nil {
						errs <- err
						return
					}
					c = tc
				}
				if _, err := c.Write(req); err != nil {
					errs <- err
					return
				}
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				conns[i] = c
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fmt.Fprintln(os.Stderr, "holdconns:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}
