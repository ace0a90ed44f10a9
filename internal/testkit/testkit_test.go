package testkit

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFreePortIsReserved runs in a network namespace of its own whose
// kernel hands out only four ports (40000–40003): with three of them
// reserved by FreePort, every listener on port 0 and every outgoing
// connection gets the fourth, the reserved ones refuse connections, and
// a listener asking for a reserved port by number gets it.
func TestFreePortIsReserved(t *testing.T) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The namespace belongs to this thread only; the thread is not
		// unlocked, so it ends with the goroutine and no other goroutine
		// ever runs in the namespace.
		runtime.LockOSThread()
		if err := enterLoopbackNamespace("40000 40003"); err != nil {
			t.Errorf("a network namespace for the test (needs root): %v", err)
			return
		}
		reserved := map[int]bool{}
		for range 3 {
			reserved[FreePort(t)] = true
		}
		for p := range reserved {
			if p < 40000 || p > 40003 {
				t.Errorf("reserved port %d is outside the namespace's range", p)
			}
		}
		for i := range 50 {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Errorf("listen on port 0: %v", err)
				return
			}
			p := l.Addr().(*net.TCPAddr).Port
			l.Close()
			if reserved[p] {
				t.Errorf("listener %d on port 0 was given reserved port %d", i, p)
			}
		}
		for p := range reserved {
			addr := "127.0.0.1:" + strconv.Itoa(p)
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				t.Errorf("a connection to reserved port %d was accepted", p)
			}
			l, err := net.Listen("tcp", addr)
			if err != nil {
				t.Errorf("listen on reserved port %d: %v", p, err)
				continue
			}
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Errorf("dial the listener on reserved port %d: %v", p, err)
			} else {
				if lp := c.LocalAddr().(*net.TCPAddr).Port; reserved[lp] {
					t.Errorf("an outgoing connection was given reserved port %d", lp)
				}
				c.Close()
			}
			l.Close()
		}
	}()
	<-done
}

// enterLoopbackNamespace moves the calling thread into a new network
// namespace with its loopback interface up and the given range of ports
// for the kernel to hand out.
func enterLoopbackNamespace(portRange string) error {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_UP | unix.IFF_LOOPBACK | unix.IFF_RUNNING)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	// A network sysctl opened by a thread is its own namespace's.
	return os.WriteFile("/proc/sys/net/ipv4/ip_local_port_range", []byte(portRange), 0)
}
