package upstream

import (
	"syscall"
	"testing"

	"frontdoor/proxy/loop"
)

// sink collects what a spool sends.
type sink struct{ got []byte }

func (k *sink) Send(p []byte) (int, syscall.Errno) {
	k.got = append(k.got, p...)
	return len(p), 0
}

func (k *sink) SendFile(fd int, off int64, n int) (int, syscall.Errno) {
	buf := make([]byte, n)
	r, errno := loop.Pread(fd, buf, off)
	k.got = append(k.got, buf[:r]...)
	return r, errno
}

// TestSpoolKeepsOrderWhenTheFileFails: bytes that memory took before the
// temporary file failed (a full disk) are not appended a second time when
// the rest is kept in memory — the client gets the body as it was, once.
func TestSpoolKeepsOrderWhenTheFileFails(t *testing.T) {
	bufs := loop.NewBufPool(16, 8)
	s := NewSpool(&bufs, "/nonexistent-dir") // no temporary file can be made
	s.Init(20, 1<<20, false)
	s.AppendAlways([]byte("ABCDEFGHIJKLMNOPQR"))             // 18 bytes: memory
	s.AppendAlways([]byte("abcdefghijklmnopqrstuvwxyz0123")) // 14 more fit the last chunk, the file fails for 16
	var out sink
	if errno := s.SendTo(&out); errno != 0 {
		t.Fatal(errno)
	}
	if want := "ABCDEFGHIJKLMNOPQRabcdefghijklmnopqrstuvwxyz0123"; string(out.got) != want {
		t.Fatalf("sent %q\nwant %q", out.got, want)
	}
	s.Release()
}

// TestSpoolMemoryThenFile: past its memory the spool writes to its
// temporary file, sends memory then file in order, and a kept spool sends
// everything again after Rewind.
func TestSpoolMemoryThenFile(t *testing.T) {
	bufs := loop.NewBufPool(16, 8)
	s := NewSpool(&bufs, t.TempDir())
	s.Init(32, 1<<20, true)
	var want []byte
	for i := 0; i < 10; i++ {
		p := []byte("0123456789abcdef"[i:] + "|")
		want = append(want, p...)
		if err := s.Append(p); err != nil {
			t.Fatal(err)
		}
	}
	if !s.InFile() || s.Total() != int64(len(want)) || s.Pending() != int64(len(want)) {
		t.Fatalf("in file %v, total %d, pending %d; want true, %d, %d", s.InFile(), s.Total(), s.Pending(), len(want), len(want))
	}
	for round := 0; round < 2; round++ {
		var out sink
		if errno := s.SendTo(&out); errno != 0 {
			t.Fatal(errno)
		}
		if string(out.got) != string(want) || s.Pending() != 0 {
			t.Fatalf("round %d: sent %q, pending %d; want %q", round, out.got, s.Pending(), want)
		}
		s.Rewind()
	}
	s.Release()
}
