// Command holdconns opens N keep-alive connections to an HTTP server, makes
// one request on each (so the server sees a finished request and an idle
// keep-alive connection), prints "ready" and holds them until its standard
// input closes. bench/run measures the server's resident memory before and
// after, per held connection. With -h2 the connections speak HTTP/2 (over
// TLS with ALPN h2, or h2c with prior knowledge): one stream each, the
// server's SETTINGS acknowledged, then idle.
package main

import (
	"bufio"
	"bytes"
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

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "server address")
	n := flag.Int("n", 9000, "connections")
	path := flag.String("path", "/1k.bin", "path to request on each connection")
	useTLS := flag.Bool("tls", false, "connect with TLS (certificates not verified)")
	useH2 := flag.Bool("h2", false, "speak HTTP/2 (ALPN h2 with -tls, else h2c with prior knowledge)")
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
				c.SetDeadline(time.Now().Add(30 * time.Second))
				if *useTLS {
					cfg := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}
					if *useH2 {
						cfg.NextProtos = []string{"h2"}
					}
					tc := tls.Client(c, cfg)
					if err := tc.Handshake(); err != nil {
						errs <- err
						return
					}
					if *useH2 && tc.ConnectionState().NegotiatedProtocol != "h2" {
						errs <- fmt.Errorf("the server did not negotiate h2")
						return
					}
					c = tc
				}
				if *useH2 {
					if err := h2Request(c, *path); err != nil {
						errs <- err
						return
					}
					c.SetDeadline(time.Time{})
					conns[i] = c
					continue
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
				c.SetDeadline(time.Time{})
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

// h2Request opens HTTP/2 on c, acknowledges the server's SETTINGS and
// makes one GET of path, read to its end.
func h2Request(c net.Conn, path string) error {
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		return err
	}
	fr := http2.NewFramer(c, c)
	fr.WriteSettings()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "localhost"}, {":path", path}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		return err
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.GoAwayFrame:
			return fmt.Errorf("GOAWAY %v", f.ErrCode)
		case *http2.RSTStreamFrame:
			return fmt.Errorf("RST_STREAM %v", f.ErrCode)
		}
		if f.Header().StreamID == 1 && f.Header().Flags.Has(http2.FlagDataEndStream) {
			return nil
		}
	}
}
