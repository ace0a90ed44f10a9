package appliance

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"frontdoor/state"
)

// The faults of the surroundings, against the real binary: kill -9 under
// socket activation, a full temporary directory, running out of
// descriptors, broken applications, broken configuration files.

// TestKillNineUnderSocketActivation runs frontdoor under
// systemd-socket-activate with an http and an https socket, under wrk load
// on both, and kills it with SIGKILL three times. systemd-socket-activate
// execs its program on the first connection, so the sockets belong to the
// program: it runs a restart loop (a shell, as systemd's Restart= would)
// that holds them, and restarts frontdoor when the test says so — after
// the test checked the state file, which the killed daemon had open: it
// must open and pass bbolt's consistency check. Meanwhile new connections
// wait in the sockets' backlog: wrk must report no connect error.
func TestKillNineUnderSocketActivation(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts under load; skipped with -short")
	}
	activate := needTool(t, "systemd-socket-activate", "systemd")
	wrk := needTool(t, "wrk", "wrk")
	t.Parallel()
	dir := t.TempDir()
	www := filepath.Join(dir, "www")
	os.Mkdir(www, 0o755)
	os.WriteFile(filepath.Join(www, "index.html"), []byte("hello\n"), 0o644)
	httpAddr, httpsAddr := freePort(t), freePort(t)
	cfg := filepath.Join(dir, "frontdoor.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`[server]
state = %q
runtime_dir = %q
access_log = "off"
workers = 2

[tls]
acme = false

[[site]]
https_redirect = false
  [[site.route]]
  path = "/"
  static = %q
`, filepath.Join(dir, "state.db"), filepath.Join(dir, "run"), www)), 0o644)

	// The loop: frontdoor with LISTEN_PID set to its own pid; after each
	// exit, wait for the test's "restart" file.
	loop := `while [ ! -e "$D/stop" ]; do
  sh -c 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" run --config "$1"' "$BIN" "$CFG"
  echo "exited $?" >> "$D/exits"
  while [ ! -e "$D/restart" ] && [ ! -e "$D/stop" ]; do sleep 0.02; done
  rm -f "$D/restart"
done`
	cmd := exec.Command(activate, "-l", httpAddr, "-l", httpsAddr, "--fdname=http:https",
		"-E", "D="+dir, "-E", "BIN="+binPath, "-E", "CFG="+cfg, "/bin/sh", "-c", loop)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.WriteFile(filepath.Join(dir, "stop"), nil, 0o644)
		if pid := frontdoorChild(cmd.Process.Pid); pid > 0 {
			syscall.Kill(pid, syscall.SIGTERM)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("log:\n%s", lastLogLines(logs.String(), 40))
		}
	})
	// The first connection makes systemd-socket-activate start the loop.
	await(t, 20*time.Second, "the first answer on the http socket", func() bool {
		r, err := rawGet(httpAddr, "/", "localhost")
		return err == nil && r.status == 200
	})
	tlsGet := func() error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", httpsAddr,
			&tls.Config{ServerName: "localhost", InsecureSkipVerify: true}) // the local CA is not trusted here
		if err != nil {
			return err
		}
		defer c.Close()
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	await(t, 20*time.Second, "an answer on the https socket", func() bool { return tlsGet() == nil })

	const kills = 3
	loadFor := fmt.Sprintf("%ds", 4*kills+4)
	var wg sync.WaitGroup
	outs := make([]bytes.Buffer, 2)
	for i, url := range []string{"http://" + httpAddr + "/", "https://localhost:" + strconv.Itoa(portOf(t, httpsAddr)) + "/"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := exec.Command(wrk, "-t1", "-c16", "-d"+loadFor, "--timeout", "10s", url)
			c.Stdout, c.Stderr = &outs[i], &outs[i]
			c.Run()
		}()
	}
	for round := range kills {
		time.Sleep(2 * time.Second) // load builds up
		pid := frontdoorChild(cmd.Process.Pid)
		if pid <= 0 {
			t.Fatalf("round %d: no frontdoor under the restart loop", round)
		}
		syscall.Kill(pid, syscall.SIGKILL)
		await(t, 10*time.Second, "the killed frontdoor to be gone", func() bool {
			return syscall.Kill(pid, 0) != nil
		})
		db, err := state.Open(filepath.Join(dir, "state.db"), state.Options{})
		if err != nil {
			t.Fatalf("round %d: the state file after kill -9: %v", round, err)
		}
		if err := db.Check(); err != nil {
			t.Fatalf("round %d: consistency check after kill -9: %v", round, err)
		}
		db.Close()
		os.WriteFile(filepath.Join(dir, "restart"), nil, 0o644)
		await(t, 20*time.Second, "the restarted frontdoor", func() bool {
			p := frontdoorChild(cmd.Process.Pid)
			return p > 0 && p != pid && tlsGet() == nil
		})
	}
	wg.Wait()
	exits, _ := os.ReadFile(filepath.Join(dir, "exits"))
	if n := strings.Count(string(exits), "exited 137"); n != kills {
		t.Errorf("the loop saw %d SIGKILL exits, want %d:\n%s", n, kills, exits)
	}
	for i, name := range []string{"http", "https"} {
		out := outs[i].String()
		t.Logf("wrk on the %s socket across %d kills:\n%s", name, kills, out)
		m := regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`).FindStringSubmatch(out)
		if m != nil && m[1] != "0" {
			t.Errorf("%s: %s connections refused across the kills (they should wait in the backlog)", name, m[1])
		}
		if n := regexp.MustCompile(`(\d+) requests in`).FindStringSubmatch(out); n == nil || n[1] == "0" {
			t.Errorf("%s: wrk made no request:\n%s", name, out)
		}
	}
}

// frontdoorChild returns the pid of the frontdoor the restart loop (pid
// loop) runs, or 0.
func frontdoorChild(loop int) int {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", loop, loop))
	for _, f := range strings.Fields(string(data)) {
		pid, _ := strconv.Atoi(f)
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); strings.HasSuffix(exe, "/frontdoor") {
			return pid
		}
	}
	return 0
}

// TestTempDirFull gives frontdoor a 2 MiB tmpfs as [proxy] temp_dir in
// front of Django. An upload larger than the memory buffer and the disk
// gets 507 while other requests (a page, a small upload) are served; no
// crash; the space is free again afterwards. Then, with the disk filled by
// someone else, a large response to a slow client still arrives whole:
// the engine holds what it read in memory and reads the application only
// as fast as the client drains, so frontdoor's memory stays bounded.
func TestTempDirFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	t.Parallel()
	tmp := filepath.Join(t.TempDir(), "tmp")
	os.Mkdir(tmp, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", tmp).CombinedOutput(); err != nil {
		t.Skipf("mount -t tmpfs refused here: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", tmp).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", tmp, err, out)
		}
	})
	d := startMysite(t, fmt.Sprintf("[proxy]\ntemp_dir = %q\n", tmp))
	pid := d.cmd.Process.Pid
	used := func() int64 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(tmp, &st); err != nil {
			t.Fatal(err)
		}
		return int64(st.Blocks-st.Bfree) * st.Bsize
	}

	// An 8 MiB upload: 64 KiB in memory, the rest cannot be stored.
	const upload = 8 << 20
	c, err := net.Dial("tcp", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /echo/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", upload)
	go func() {
		chunk := bytes.Repeat([]byte("u"), 64<<10)
		for sent := 0; sent < upload; sent += len(chunk) {
			if _, err := c.Write(chunk); err != nil {
				return // refused: the engine stops reading and closes
			}
			time.Sleep(2 * time.Millisecond) // leave room for the requests below
		}
	}()
	// Other requests while the upload fills the disk.
	for i := range 5 {
		if r, err := rawGet(d.addr, "/healthz/", "localhost"); err != nil || r.status != 200 {
			t.Errorf("GET during the full-disk upload %d: %d %v", i, r.status, err)
		}
		if st, body := postEcho(t, d.addr, bytes.Repeat([]byte("s"), 1000)); st != 200 || !strings.Contains(body, `"body_length": 1000`) {
			t.Errorf("small POST during the full-disk upload: %d %s", st, body)
		}
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("the upload got no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 507 {
		t.Fatalf("an upload the disk cannot hold: %d, want 507", resp.StatusCode)
	}
	if strings.Contains(d.stderr.String(), "echo method=POST path=/echo/ body_length=8388608") {
		t.Error("the refused upload reached the application")
	}
	await(t, 10*time.Second, "the temporary directory to be empty again", func() bool { return used() == 0 })
	if syscall.Kill(pid, 0) != nil {
		t.Fatal("frontdoor died")
	}
	if st, _ := postEcho(t, d.addr, bytes.Repeat([]byte("a"), 100<<10)); st != 200 {
		t.Errorf("a 100 KiB upload once the disk is free: %d", st)
	}

	// Someone else fills the disk; a 32 MiB response to a slow client.
	filler, err := os.Create(filepath.Join(tmp, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := filler.Write(make([]byte, 64<<10)); err != nil {
			break
		}
	}
	filler.Close()
	const size = 32 << 20
	before := procStatusKiB(pid, "VmRSS")
	var maxRSS int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			maxRSS = max(maxRSS, procStatusKiB(pid, "VmRSS"))
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	got, err := slowBigGet(d.addr, size, 64<<10, 4*time.Millisecond)
	close(stopSampling)
	<-sampled
	if err != nil {
		t.Fatalf("a large response with the disk full: %v (%d bytes)", err, got)
	}
	t.Logf("32 MiB to a slow client with the temporary directory full: RSS %d KiB before, at most %d KiB during", before, maxRSS)
	if maxRSS-before > 16<<10 {
		t.Errorf("frontdoor grew by %d KiB while relaying a response it could not spool (want < 16 MiB)", maxRSS-before)
	}
	os.Remove(filepath.Join(tmp, "filler"))
	if !strings.Contains(d.stderr.String(), "no space for a request body's temporary file") {
		t.Error("the full disk was not logged")
	}
}

// postEcho posts body to /echo/ on a new connection.
func postEcho(t *testing.T, addr string, body []byte) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Post("http://"+addr+"/echo/", "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Errorf("POST /echo/: %v", err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// bigAlphabet is the example app's /big/ content: byte i is
// bigAlphabet[i%64].
const bigAlphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/"

// slowBigGet reads /big/?size=N in chunks with a pause between, checking
// every byte; it returns the bytes received.
func slowBigGet(addr string, size, chunk int, pause time.Duration) (int, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /big/?size=%d HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", size)
	br := bufio.NewReaderSize(c, chunk)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != 200 || resp.ContentLength != int64(size) {
		return 0, fmt.Errorf("status %d, length %d", resp.StatusCode, resp.ContentLength)
	}
	buf := make([]byte, chunk)
	got := 0
	for got < size {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := resp.Body.Read(buf)
		for i := range n {
			if buf[i] != bigAlphabet[(got+i)%64] {
				return got + i, fmt.Errorf("byte %d is %q, want %q", got+i, buf[i], bigAlphabet[(got+i)%64])
			}
		}
		got += n
		if err != nil {
			if err == io.EOF && got == size {
				break
			}
			return got, err
		}
		time.Sleep(pause)
	}
	return got, nil
}

// brokenOrigin is an application that misbehaves on purpose, per path,
// listening on n addresses (frontdoor marks a failing address down for
// every group that uses it: each case gets its own).
func brokenOrigin(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		addrs = append(addrs, l.Addr().String())
		go serveBroken(l)
	}
	return addrs
}

func serveBroken(l net.Listener) {
	block := bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz"), 2520) // 64 KiB of whole alphabets
	func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				switch req.URL.Path {
				case "/garbage":
					io.WriteString(c, "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n\r\n")
				case "/binary":
					c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0, 0, 0, '\r', '\n', '\r', '\n'})
				case "/endless-header":
					io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Endless: ")
					for {
						if _, err := c.Write(bytes.Repeat([]byte("a"), 64<<10)); err != nil {
							return
						}
					}
				case "/endless-headers":
					io.WriteString(c, "HTTP/1.1 200 OK\r\n")
					for i := 0; ; i++ {
						if _, err := fmt.Fprintf(c, "X-H%d: v\r\n", i); err != nil {
							return
						}
					}
				case "/short":
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nContent-Type: text/plain\r\n\r\n")
					c.Write(bytes.Repeat([]byte("s"), 50000))
				case "/huge":
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/octet-stream\r\n\r\n", int64(1)<<30)
					for sent := 0; sent < 1<<30; sent += len(block) {
						n := min(len(block), 1<<30-sent)
						if _, err := c.Write(block[:n]); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
}

// TestBrokenApplication puts frontdoor in front of an origin that answers
// garbage, a header that never ends, too many headers, a body shorter than
// its Content-Length, and 1 GiB to a client that reads slowly. Garbage and
// endless heads give 502 (and frontdoor stops reading them); a short body
// reaches the client with the announced length and a close before it; the
// huge response arrives whole while frontdoor's memory stays flat and its
// temporary file stays under max_temp_file (32 MiB here): the origin is
// read only as fast as the client drains beyond that.
func TestBrokenApplication(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out response timeouts; skipped with -short")
	}
	t.Parallel()
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp")
	os.Mkdir(tmp, 0o700)
	paths := []string{"/garbage", "/binary", "/endless-header", "/endless-headers", "/short", "/huge"}
	origins := brokenOrigin(t, len(paths))
	var b strings.Builder
	fmt.Fprintf(&b, "[proxy]\nresponse_timeout = \"5s\"\nmax_temp_file = %d\ntemp_dir = %q\n\n", 32<<20, tmp)
	for i := range paths {
		fmt.Fprintf(&b, "[[upstream]]\nname = \"o%d\"\nservers = [%q]\n\n", i, origins[i])
	}
	b.WriteString("[[site]]\n")
	for i, p := range paths {
		fmt.Fprintf(&b, "  [[site.route]]\n  path = %q\n  upstream = \"o%d\"\n", p, i)
	}
	addr := freePort(t)
	b.WriteString(serverTable(addr, dir))
	os.WriteFile(filepath.Join(dir, "frontdoor.toml"), []byte(b.String()), 0o644)
	d := startDaemon(t, dir, addr)
	pid := d.cmd.Process.Pid
	// Ready: a path no route serves (any request to the origin would
	// count against it).
	await(t, 10*time.Second, "frontdoor", func() bool { r, err := rawGet(addr, "/nothing", "x"); return err == nil && r.status == 404 })
	baseRSS := procStatusKiB(pid, "VmRSS")

	for _, p := range []string{"/garbage", "/binary", "/endless-header", "/endless-headers"} {
		start := time.Now()
		r, err := rawGet(addr, p, "x")
		if err != nil || r.status != 502 {
			t.Errorf("%s: %d %v, want 502", p, r.status, err)
		}
		t.Logf("%s: %d after %v", p, r.status, time.Since(start).Round(time.Millisecond))
	}
	if rss := procStatusKiB(pid, "VmRSS"); rss-baseRSS > 8<<10 {
		t.Errorf("endless heads grew frontdoor from %d to %d KiB", baseRSS, rss)
	}

	// A short body: the client learns it by the close before the length.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c, "GET /short HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	c.Close()
	if resp.StatusCode != 200 || resp.ContentLength != 100000 || n != 50000 || err != io.ErrUnexpectedEOF {
		t.Errorf("short body: %d, length %d, got %d bytes, %v; want 200, 100000, 50000, unexpected EOF", resp.StatusCode, resp.ContentLength, n, err)
	}

	// 1 GiB: 5 s at about 1 MiB/s, then as fast as possible.
	c, err = net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "GET /huge HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReaderSize(c, 64<<10)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err = http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("huge: %v %v", resp, err)
	}
	// The peak of frontdoor's memory over the transfer is the kernel's
	// high-water mark (VmHWM), reset here and read at the end: no peak
	// between two samples can be missed. The temporary file has no such
	// mark: it is sampled every MiB.
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Fatalf("reset frontdoor's peak RSS: %v", err)
	}
	var maxTemp int64
	sample := func() {
		maxTemp = max(maxTemp, tempFileBytes(pid, tmp))
	}
	buf := make([]byte, 64<<10)
	var got int64
	slowUntil := time.Now().Add(5 * time.Second)
	start := time.Now()
	for {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := resp.Body.Read(buf)
		for i := range n {
			if buf[i] != byte('a'+(got+int64(i))%26) {
				t.Fatalf("huge: byte %d is %q", got+int64(i), buf[i])
			}
		}
		got += int64(n)
		if err != nil {
			if err != io.EOF {
				t.Fatalf("huge: after %d bytes: %v", got, err)
			}
			break
		}
		if time.Now().Before(slowUntil) {
			sample()
			time.Sleep(50 * time.Millisecond)
		} else if got%(1<<20) < int64(n) {
			sample()
		}
	}
	maxRSS := procStatusKiB(pid, "VmHWM")
	if maxRSS == 0 {
		t.Fatal("no VmHWM for frontdoor")
	}
	t.Logf("1 GiB to a slow reader in %v: RSS %d KiB before, peak %d KiB; temporary file at most %d KiB (max_temp_file 32 MiB)",
		time.Since(start).Round(time.Millisecond), baseRSS, maxRSS, maxTemp>>10)
	if got != 1<<30 {
		t.Errorf("huge: got %d bytes, want 1 GiB", got)
	}
	if maxRSS-baseRSS > 32<<10 {
		t.Errorf("frontdoor grew by %d KiB relaying 1 GiB (want < 32 MiB)", maxRSS-baseRSS)
	}
	if maxTemp > 32<<20 || maxTemp == 0 {
		t.Errorf("temporary file reached %d bytes (max_temp_file 32 MiB; 0 means none was seen)", maxTemp)
	}
}

// tempFileBytes sums the sizes of the unlinked temporary files pid holds
// in dir.
func tempFileBytes(pid int, dir string) int64 {
	entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	var total int64
	for _, e := range entries {
		p := fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name())
		target, err := os.Readlink(p)
		if err != nil || !strings.HasPrefix(target, dir+"/") {
			continue
		}
		if st, err := os.Stat(p); err == nil {
			total += st.Size()
		}
	}
	return total
}

// TestOutOfDescriptors runs frontdoor with an open-files limit of 256 and
// opens 400 connections that send nothing. frontdoor takes what its limit
// allows, then stops accepting (the rest wait in the listen backlog, so
// nobody is refused), does not spin meanwhile (CPU time over 5 s of
// exhaustion), and serves again once connections close: a request sent on
// a waiting connection is answered.
func TestOutOfDescriptors(t *testing.T) {
	prlimit := needTool(t, "prlimit", "util-linux")
	raiseOpenFiles(t, 2000)
	t.Parallel()
	dir := t.TempDir()
	www := filepath.Join(dir, "www")
	os.Mkdir(www, 0o755)
	os.WriteFile(filepath.Join(www, "a.txt"), []byte("alpha"), 0o644)
	addr := freePort(t)
	os.WriteFile(filepath.Join(dir, "frontdoor.toml"), []byte(fmt.Sprintf(`[timeouts]
request_head = "60s"

[[site]]
  [[site.route]]
  path = "/"
  static = %q
`, www)+serverTable(addr, dir)), 0o644)
	p := &process{stderr: &syncBuffer{}, addr: addr}
	failOnRecoveredPanic(t, p.stderr)
	p.cmd = exec.Command(prlimit, "--nofile=256:256", binPath, "run", "--config", filepath.Join(dir, "frontdoor.toml"))
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.guardHostPaths(t)
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		if t.Failed() {
			t.Logf("frontdoor's log:\n%s", lastLogLines(p.stderr.String(), 30))
		}
	})
	pid := p.cmd.Process.Pid
	await(t, 10*time.Second, "frontdoor", func() bool { r, err := rawGet(addr, "/a.txt", "x"); return err == nil && r.status == 200 })
	if lim := procLimit(pid, "Max open files"); lim != "256" {
		t.Fatalf("open-files limit of frontdoor is %q, want 256", lim)
	}

	const n = 400
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d refused (the backlog should hold it): %v", i, err)
		}
		conns = append(conns, c)
	}
	await(t, 10*time.Second, "frontdoor to reach its limit", func() bool { return openFDs(pid) >= 250 })
	// A request on a connection that waits in the backlog.
	waiting := conns[n-1]
	fmt.Fprint(waiting, "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	waiting.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := waiting.Read(make([]byte, 1)); err == nil {
		t.Fatal("a request was answered beyond the descriptor limit")
	}
	logBefore := strings.Count(p.stderr.String(), "\n")
	cpuBefore := cpuTime(t, pid)
	time.Sleep(5 * time.Second) // an absence (of CPU use) can only be observed over time
	cpu := cpuTime(t, pid) - cpuBefore
	logLines := strings.Count(p.stderr.String(), "\n") - logBefore
	t.Logf("5 s out of descriptors (%d open): %v of CPU, %d log lines", openFDs(pid), cpu, logLines)
	if cpu > 500*time.Millisecond {
		t.Errorf("frontdoor used %v of CPU in 5 s with no descriptor left: a busy loop", cpu)
	}
	if logLines > 20 {
		t.Errorf("%d log lines in 5 s of exhaustion: the journal is flooded", logLines)
	}
	// Close most connections: the waiting request is served.
	for _, c := range conns[:300] {
		c.Close()
	}
	conns = conns[300:]
	waiting.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(waiting), nil)
	if err != nil {
		t.Fatalf("the waiting request after connections closed: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "alpha" {
		t.Fatalf("the waiting request: %d %q", resp.StatusCode, body)
	}
	if r, err := rawGet(addr, "/a.txt", "x"); err != nil || r.status != 200 {
		t.Fatalf("a new request after recovery: %d %v", r.status, err)
	}
	// Said once when it began, once when it ended.
	log := p.stderr.String()
	if !strings.Contains(log, "out of file descriptors") || !strings.Contains(log, "accepting connections again") {
		t.Errorf("the exhaustion and the recovery are not both in the log:\n%s", lastLogLines(log, 20))
	}
}

// procLimit reads a soft limit from /proc/PID/limits.
func procLimit(pid int, name string) string {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, name); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}

// TestConfigErrorsThroughTheBinary: `frontdoor check` (run as nobody, as
// the packaged service's user would be) names the file, the line, the key
// and a fix for each kind of mistake — those the parser tests cover one by
// one in config_test.go, here through the binary, plus files the service
// cannot read — and a SIGHUP with any of them keeps the running
// configuration serving.
func TestConfigErrorsThroughTheBinary(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run check as nobody")
	}
	t.Parallel()
	// Not t.TempDir: nobody must reach the binary and the files.
	dir, err := os.MkdirTemp("", "fd-configerr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := binPath // reachable by nobody (TestMain)
	www := filepath.Join(dir, "www")
	os.Mkdir(www, 0o755)
	os.WriteFile(filepath.Join(www, "v.txt"), []byte("good"), 0o644)
	secret := filepath.Join(dir, "ca-private.pem")
	os.WriteFile(secret, []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), 0o600)
	notPEM := filepath.Join(dir, "ca.txt")
	os.WriteFile(notPEM, []byte("this is not a certificate\n"), 0o644)
	addr := freePort(t)
	good := func(extra string) string {
		return fmt.Sprintf("[server]\nhttp = [%q]\nstate = %q\nruntime_dir = %q\naccess_log = \"off\"\n%s\n[[site]]\n  [[site.route]]\n  path = \"/\"\n  static = %q\n",
			addr, filepath.Join(dir, "state", "state.db"), filepath.Join(dir, "run"), extra, www)
	}
	tests := []struct {
		name, text, where, says string
	}{
		{"unknown key", good("workerz = 2\n"), ":6: server.workerz", "unknown key"},
		{"wrong type", good("workers = \"two\"\n"), ":6: server.workers", `expected a number, got "two"`},
		{"bad duration", good("[timeouts]\nkeepalive = \"75 seconds\"\n"), ":7: timeouts.keepalive", "not a duration"},
		{"bad address", strings.Replace(good(""), addr, "localhost:80", 1), ":2: server.http[0]", "not an IP address"},
		{"missing directory", strings.Replace(good(""), www, www+"/missing", 1), ":10: site[0].route[0].static", "no such file"},
		{"relative state path", strings.Replace(good(""), filepath.Join(dir, "state", "state.db"), "state.db", 1), ":3: server.state", "absolute"},
		{"bad trusted proxy", good("[proxy]\ntrusted_proxies = [\"10.0.0.0/33\"]\n"), ":7: proxy.trusted_proxies[0]", ""},
		{"upstream without address", good("[[upstream]]\nname = \"app\"\nservers = [\"nowhere\"]\n"), ":8: upstream[0].servers[0]", "neither unix:/path nor host:port"},
		{"unreadable directory_ca", good("[tls]\ndirectory_ca = \"" + secret + "\"\n"), ":7: tls.directory_ca", "permission denied"},
		{"directory_ca without a certificate", good("[tls]\ndirectory_ca = \"" + notPEM + "\"\n"), ":7: tls.directory_ca", "PEM"},
	}
	asNobody := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("broken%d.toml", i))
			os.WriteFile(path, []byte(tc.text), 0o644)
			out, err := asNobody("check", "--config", path)
			if err == nil {
				if strings.Contains(tc.name, "directory_ca") {
					// Known: validate() only stats the file (appliance/load.go);
					// `run` with an https listener then fails in clientTrusting
					// without a line. Left for the lead (appliance/).
					t.Fatalf("check accepted a tls.directory_ca that `run` cannot use (validate only stats it; it should read it and require a PEM certificate):\n%s", out)
				}
				t.Fatalf("check accepted it:\n%s\n%s", out, tc.text)
			}
			if !strings.Contains(out, path+tc.where) || !strings.Contains(out, tc.says) || !strings.Contains(out, "fix:") {
				t.Errorf("check output lacks %q, %q or a fix:\n%s", path+tc.where, tc.says, out)
			}
		})
	}
	// Quick mode has no file: the flag and its file are named, with a fix.
	certDir := t.TempDir()
	cert, key := filepath.Join(certDir, "c.pem"), filepath.Join(certDir, "k.pem")
	if out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost").CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	os.Rename(cert, filepath.Join(dir, "c.pem"))
	os.Rename(key, filepath.Join(dir, "k.pem"))
	os.Chmod(filepath.Join(dir, "k.pem"), 0o600) // root's: nobody cannot read it
	out, err := asNobody("file-server", "--listen", freePort(t), "--root", www,
		"--tls-cert", filepath.Join(dir, "c.pem"), "--tls-key", filepath.Join(dir, "k.pem"))
	if err == nil || !strings.Contains(out, "--tls-key "+filepath.Join(dir, "k.pem")) || !strings.Contains(out, "permission denied") || !strings.Contains(out, "give a readable") {
		t.Errorf("quick mode with an unreadable key: %v\n%s", err, out)
	}

	// A daemon on the good file; each broken one on SIGHUP is refused.
	cfg := filepath.Join(dir, "frontdoor.toml")
	os.WriteFile(cfg, []byte(good("")), 0o644)
	p := startFrontdoor(t, "run", "--config", cfg)
	url := "http://" + addr + "/v.txt"
	if _, body := get(t, url); body != "good" {
		t.Fatalf("served %q", body)
	}
	for _, tc := range tests {
		if strings.Contains(tc.name, "directory_ca") {
			continue // only read for HTTPS, which this daemon does not serve
		}
		before := strings.Count(p.stderr.String(), "reload refused")
		os.WriteFile(cfg, []byte(tc.text), 0o644)
		p.cmd.Process.Signal(syscall.SIGHUP)
		waitFor(t, func() bool { return strings.Count(p.stderr.String(), "reload refused") > before })
		if !strings.Contains(p.stderr.String(), cfg+tc.where) {
			t.Errorf("%s: the refused reload does not name %s", tc.name, cfg+tc.where)
		}
		if _, body := get(t, url); body != "good" {
			t.Fatalf("%s: after a refused reload, served %q", tc.name, body)
		}
	}
}
