package appliance

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAdminSocket checks who may use the admin socket — its mode keeps
// strangers out, and SO_PEERCRED refuses them even when the mode is
// loosened, while a member of the socket's group gets in — and the
// commands without an [app]: status --json parses, reload reports a broken
// file by file and line, deploy says there is nothing to deploy.
func TestAdminSocket(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the CLI as other users")
	}
	t.Parallel()
	// Not t.TempDir: other users must be able to reach the binary and the
	// socket.
	dir, err := os.MkdirTemp("", "fd-admin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := binPath // reachable by nobody (TestMain)
	www := filepath.Join(dir, "www")
	os.Mkdir(www, 0o755)
	addr := freePort(t)
	cfg := filepath.Join(dir, "frontdoor.toml")
	good := fmt.Sprintf("[[site]]\n  [[site.route]]\n  path = \"/\"\n  static = %q\n", www) + serverTable(addr, dir)
	os.WriteFile(cfg, []byte(good), 0o644)
	d := startDaemon(t, dir, addr)
	await(t, 10*time.Second, "the admin socket", func() bool { _, ok := d.tryStatus(); return ok })
	os.Chmod(filepath.Join(dir, "run"), 0o755) // let others reach the socket file itself

	fi, err := os.Stat(d.socket)
	if err != nil {
		t.Fatal(err)
	}
	sockGID := int(fi.Sys().(*syscall.Stat_t).Gid)
	if fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("admin socket mode = %v, want a socket with 0660", fi.Mode())
	}

	out, err := exec.Command(bin, "status", "--json", "--admin", d.socket).Output()
	var st StatusReport
	if err != nil || json.Unmarshal(out, &st) != nil {
		t.Fatalf("status --json as root: %v\n%s", err, out)
	}
	if st.App != nil || st.PID != d.cmd.Process.Pid || len(st.Edge.Listeners) != 1 || st.Edge.Listeners[0].Addr != addr {
		t.Errorf("status = %+v", st)
	}

	as := func(uid, gid int) (string, error) {
		cmd := exec.Command(bin, "status", "--admin", d.socket)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	const nobody = 65534
	if out, err := as(nobody, nobody); err == nil || !strings.Contains(out, "permission denied") {
		t.Errorf("a stranger used the socket (mode 0660): %v\n%s", err, out)
	}
	// With the mode loosened by hand, the peer check still refuses.
	os.Chmod(d.socket, 0o666)
	if out, err := as(nobody, nobody); err == nil || !strings.Contains(out, "may not use frontdoor's admin socket") {
		t.Errorf("SO_PEERCRED let a stranger in: %v\n%s", err, out)
	}
	// A member of the socket's group is let in.
	if out, err := as(nobody, sockGID); err != nil || !strings.Contains(out, "edge") {
		t.Errorf("a member of the socket's group was refused: %v\n%s", err, out)
	}

	// Broken, but it still names its runtime directory: the CLI finds the socket.
	os.WriteFile(cfg, []byte(fmt.Sprintf("[server]\nworkerz = 2\nruntime_dir = %q\n", filepath.Join(dir, "run"))), 0o644)
	out2, err := exec.Command(bin, "reload", "--config", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out2), cfg+":2: server.workerz") {
		t.Errorf("reload of a broken file: %v\n%s", err, out2)
	}
	os.WriteFile(cfg, []byte(good), 0o644)
	out2, err = exec.Command(bin, "reload", "--config", cfg).CombinedOutput()
	if err != nil || !strings.Contains(string(out2), "configuration reloaded") {
		t.Errorf("reload of a good file: %v\n%s", err, out2)
	}
	out2, err = exec.Command(bin, "deploy", "--admin", d.socket).CombinedOutput()
	if err == nil || !strings.Contains(string(out2), "no [app]") {
		t.Errorf("deploy without [app]: %v\n%s", err, out2)
	}
	out2, err = exec.Command(bin, "status", "--cluster", "--admin", d.socket).CombinedOutput()
	if err == nil || !strings.Contains(string(out2), "this edge has no [cluster]") {
		t.Errorf("status --cluster without [cluster]: %v\n%s", err, out2)
	}
	// Nothing listening: a clear message.
	out2, err = exec.Command(bin, "status", "--admin", filepath.Join(dir, "nothing.sock")).CombinedOutput()
	if err == nil || !strings.Contains(string(out2), "frontdoor is not running") {
		t.Errorf("status without a daemon: %v\n%s", err, out2)
	}
}
