package appliance

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"frontdoor/supervisor"
)

// asPackagedService is setpriv giving a command what frontdoor.service
// gives frontdoor: another user than root, no supplementary group,
// CAP_SETUID and CAP_SETGID as ambient capabilities (and nothing else in
// the bounding set), no new privileges.
func asPackagedService(uid int, argv ...string) *exec.Cmd {
	return exec.Command("setpriv", append([]string{fmt.Sprintf("--reuid=%d", uid), fmt.Sprintf("--regid=%d", uid), "--clear-groups",
		"--inh-caps=-all,+setuid,+setgid", "--ambient-caps=-all,+setuid,+setgid", "--bounding-set=-all,+setuid,+setgid",
		"--no-new-privs"}, argv...)...)
}

// giveProject hands a project to its app's user and to the service's
// group, and to no one else, as init proposes: the app reads and writes
// its own files, frontdoor reads them (the static files it serves, the
// .env it passes on), another app's user nothing.
func giveProject(t *testing.T, project string, owner *supervisor.Account, group int) {
	t.Helper()
	err := filepath.WalkDir(project, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, int(owner.UID), group); err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		mode := info.Mode().Perm()&0o700 | 0o040
		if d.IsDir() {
			mode |= 0o010
		}
		return os.Chmod(p, mode)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAppsRunAsTheirOwnUsers is the packaged service's privilege model
// without systemd: frontdoor runs as a system user with only CAP_SETUID and
// CAP_SETGID (ambient, as the unit gives them), two apps each with its own
// user. Each app's processes run as its user with no capability at all
// (frontdoor emptied its inheritable and ambient sets), frontdoor keeps
// the two capabilities only, one app's user cannot read the other's .env
// — through `frontdoor manage`, which runs as the app's user — and a
// frontdoor whose apps need no other user drops even those two.
func TestAppsRunAsTheirOwnUsers(t *testing.T) {
	needDjango(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to run frontdoor and the apps as other users")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	t.Parallel()
	service, err := supervisor.LookupAccount("daemon") // frontdoor's user here
	if err != nil {
		t.Skip("no daemon account")
	}
	shopUser, err1 := supervisor.LookupAccount("nobody")
	blogUser, err2 := supervisor.LookupAccount("www-data")
	if err1 != nil || err2 != nil {
		t.Skip("needs the nobody and www-data accounts")
	}
	// Not t.TempDir: frontdoor's user must reach its files.
	dir, err := os.MkdirTemp("", "fd-appusers-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	os.Chown(dir, int(service.UID), int(service.GID))
	bin := binPath // TestMain builds it where any user may run it
	addr := freePort(t)
	shop, blog := twoMysites(t, addr, dir)
	cfg := filepath.Join(dir, "frontdoor.toml")
	text, _ := os.ReadFile(cfg)
	withUsers := strings.Replace(string(text), "name = \"shop\"\n", "name = \"shop\"\nuser = \"nobody\"\n", 1)
	withUsers = strings.Replace(withUsers, "name = \"blog\"\n", "name = \"blog\"\nuser = \"www-data\"\n", 1)
	os.WriteFile(cfg, []byte(withUsers), 0o644)
	secret := "DJANGO_SECRET_KEY=shop-" + strings.Repeat("s3cr3t", 8) + "\n"
	os.WriteFile(filepath.Join(shop, ".env"), []byte(secret), 0o600)
	os.WriteFile(filepath.Join(blog, ".env"), []byte("DJANGO_SECRET_KEY=blog-"+strings.Repeat("x9", 24)+"\n"), 0o600)
	giveProject(t, shop, shopUser, int(service.GID))
	giveProject(t, blog, blogUser, int(service.GID))
	// blog's STATIC_ROOT is group-writable (frontdoor could write there),
	// the directories its collectstatic makes as www-data are not.
	os.Chmod(filepath.Join(blog, "staticfiles"), 0o770)

	cmd := asPackagedService(int(service.UID), bin, "run", "--config", cfg)
	var logs syncBuffer
	cmd.Stderr, cmd.Stdout = &logs, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		waitExit(cmd, 60*time.Second)
		if t.Failed() {
			t.Logf("frontdoor's log:\n%s", lastLogLines(logs.String(), 60))
		}
	})
	d := &daemon{dir: dir, config: cfg, socket: filepath.Join(dir, "run", AdminSocketName), process: &process{cmd: cmd, stderr: &logs, addr: addr}}
	for _, name := range []string{"shop", "blog"} {
		await(t, 120*time.Second, name+" to serve", func() bool {
			r, err := rawGet(addr, "/version/", name+".localhost")
			return err == nil && r.status == 200 && r.body == name+" version 1"
		})
	}

	// compress-static, run by frontdoor, put blog's compressed copies
	// where it may write rather than fail on collectstatic's directories.
	await(t, 30*time.Second, "blog's compress-static step", func() bool {
		return strings.Count(logs.String(), "step=compress-static") >= 2 // shop's and blog's
	})
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "step=compress-static") && !strings.Contains(line, "release step done") {
			t.Errorf("compress-static did not succeed: %s", line)
		}
	}

	zero := "0000000000000000"
	for field, want := range map[string]string{"CapEff": "00000000000000c0", "CapPrm": "00000000000000c0", "CapInh": zero, "CapAmb": zero} {
		if got := procStatusField(cmd.Process.Pid, field); got != want {
			t.Errorf("frontdoor's %s = %s, want %s (CAP_SETUID and CAP_SETGID only, nothing a child inherits)", field, got, want)
		}
	}
	st := d.status(t)
	for _, app := range []struct {
		name string
		user *supervisor.Account
	}{{"shop", shopUser}, {"blog", blogUser}} {
		as := st.app(app.name)
		if as == nil || as.Status == nil || as.Status.Web.PID == 0 {
			t.Fatalf("%s: no web process in %+v", app.name, as)
		}
		master := as.Status.Web.PID
		for _, pid := range append([]int{master}, childrenOf(master)...) {
			wantUID := fmt.Sprintf("%d\t%d\t%d\t%d", app.user.UID, app.user.UID, app.user.UID, app.user.UID)
			if got := procStatusField(pid, "Uid"); got != wantUID {
				t.Errorf("%s: process %d runs as uid %q, want %s's", app.name, pid, got, app.user.Name)
			}
			for _, field := range []string{"CapInh", "CapPrm", "CapEff", "CapAmb"} {
				if got := procStatusField(pid, field); got != zero {
					t.Errorf("%s: process %d has %s %s", app.name, pid, field, got)
				}
			}
		}
	}

	// One app's user cannot read the other's .env; its own, it can.
	read := func(app, path string) (string, error) {
		return cli(t, "manage", "--config", cfg, app, "shell", "-c", fmt.Sprintf("print(open(%q).read(), end='')", path))
	}
	if out, err := read("blog", filepath.Join(shop, ".env")); err == nil || !strings.Contains(out, "PermissionError") || strings.Contains(out, "s3cr3t") {
		t.Errorf("blog's user read shop's .env: %v\n%s", err, out)
	}
	if out, err := read("shop", filepath.Join(shop, ".env")); err != nil || out != secret {
		t.Errorf("shop's user cannot read its own .env: %v\n%s", err, out)
	}
	if out, err := read("shop", filepath.Join(blog, ".env")); err == nil || !strings.Contains(out, "PermissionError") {
		t.Errorf("shop's user read blog's .env: %v\n%s", err, out)
	}

	// frontdoor may not signal its apps' processes itself (another user,
	// no CAP_KILL): a deploy of blog must still stop the generation it
	// replaces, and stopping frontdoor must stop every app process.
	oldBlog := d.status(t).app("blog").Status.Web.PID
	if out, err := cli(t, "deploy", "blog", "--config", cfg); err != nil || !strings.Contains(out, "blog: deploy ok") {
		t.Fatalf("frontdoor deploy blog: %v\n%s", err, out)
	}
	await(t, 60*time.Second, "blog's replaced gunicorn to stop", func() bool { return syscall.Kill(oldBlog, 0) != nil })
	st = d.status(t)
	var appPIDs []int
	for _, name := range []string{"shop", "blog"} {
		master := st.app(name).Status.Web.PID
		appPIDs = append(append(appPIDs, master), childrenOf(master)...)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := waitExit(cmd, 60*time.Second); err != nil {
		t.Errorf("frontdoor did not stop on SIGTERM: %v", err)
	}
	await(t, 10*time.Second, "the apps' processes to be gone with frontdoor", func() bool {
		for _, pid := range appPIDs {
			if syscall.Kill(pid, 0) == nil {
				return false
			}
		}
		return true
	})

	// Without an app of another user, frontdoor drops both capabilities.
	bare := filepath.Join(dir, "bare")
	os.Mkdir(bare, 0o755)
	os.Chown(bare, int(service.UID), int(service.GID))
	bareAddr := freePort(t)
	os.WriteFile(filepath.Join(bare, "frontdoor.toml"), []byte(serverTable(bareAddr, bare)), 0o644)
	other := asPackagedService(int(service.UID), bin, "run", "--config", filepath.Join(bare, "frontdoor.toml"))
	var otherLogs syncBuffer
	other.Stderr = &otherLogs
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Signal(syscall.SIGTERM); waitExit(other, 30*time.Second) })
	await(t, 20*time.Second, "the frontdoor without apps to answer", func() bool {
		r, err := rawGet(bareAddr, "/", "localhost")
		return err == nil && r.status != 0
	})
	for _, field := range []string{"CapEff", "CapPrm", "CapInh", "CapAmb"} {
		if got := procStatusField(other.Process.Pid, field); got != zero {
			t.Errorf("frontdoor without apps of other users keeps %s %s\n%s", field, got, otherLogs.String())
		}
	}
}
