package appliance

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"frontdoor/internal/testkit"
	"frontdoor/supervisor"
)

// Tests on Django sites nobody here wrote: a stock `startproject` site
// with the admin, an upload model and PostgreSQL, under gunicorn and under
// uvicorn; Debian's graphite-web (graphite_test.go). Each goes through
// `frontdoor init` — whose printed fixes are applied as a user would:
// the settings lines pasted into the file init names, the commands run —
// then `frontdoor run`, over HTTPS from the local CA. The configuration
// init writes is not edited; a [server] table is added only to listen on
// loopback test ports and keep state in the test's directory.

// appliedFixes pastes every settings fix printed by init into the file it
// names (relative names are the project's; where, when not nil, says
// where a named file really is), writes the env file a SECRET_KEY line
// asks for, and returns the shell commands init printed for permissions.
func appliedFixes(t *testing.T, out, project string, where func(string) string) (commands []string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	add := map[string][]string{}
	var order []string
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if rest, ok := strings.CutPrefix(l, "fix, in "); ok {
			file, fix, _ := strings.Cut(rest, ":")
			fix = strings.TrimSpace(fix)
			var fixLines []string
			if fix != "" {
				fixLines = []string{fix}
			} else {
				for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "            ") {
					i++
					fixLines = append(fixLines, strings.TrimSpace(lines[i]))
				}
			}
			if !filepath.IsAbs(file) {
				file = filepath.Join(project, file)
			}
			if _, seen := add[file]; !seen {
				order = append(order, file)
			}
			add[file] = append(add[file], fixLines...)
			continue
		}
		if cmd, ok := strings.CutPrefix(l, "fix: "); ok && regexp.MustCompile(`^(chown|chgrp|chmod|install|adduser) `).MatchString(cmd) {
			cmd, _, _ = strings.Cut(cmd, "   (")
			commands = append(commands, cmd)
		}
	}
	for _, file := range order {
		text := strings.Join(add[file], "\n")
		if where != nil {
			file = where(file)
		}
		if strings.Contains(text, "DJANGO_SECRET_KEY=<50 random characters> in ") {
			env := regexp.MustCompile(`in (\S+\.env)`).FindStringSubmatch(text)
			if env == nil {
				t.Fatalf("no env file named in %q", text)
			}
			os.WriteFile(env[1], []byte("DJANGO_SECRET_KEY=e2e-"+strings.Repeat("k7Q", 16)+"\n"), 0o640)
			if _, _, uid, gid, err := supervisor.FileOwner(filepath.Dir(env[1])); err == nil {
				os.Chown(env[1], int(uid), int(gid)) // the project's owner writes it
			}
		}
		appendTo(t, file, "\n# Fixes printed by frontdoor init.\n"+text+"\n")
	}
	return commands
}

// siteServer is the [server] and [tls] a test adds: loopback listeners
// and the test's own state; names get certificates from the local CA.
func siteServer(httpAddr, httpsAddr, dir string) string {
	return fmt.Sprintf("\n[server]\nhttp = [%q]\nhttps = [%q]\nstate = %q\nruntime_dir = %q\naccess_log = \"off\"\nworkers = 2\n\n[tls]\nacme = false\n",
		httpAddr, httpsAddr, filepath.Join(dir, "state.db"), filepath.Join(dir, "run"))
}

// localHTTPS is a client of https://localhost:PORT that trusts the
// daemon's local CA, keeps cookies, does not follow redirects and does not
// decompress (the test looks at the encodings).
func localHTTPS(t *testing.T, cfg, addr string) *http.Client {
	return localCAClient(t, cfg, addr, "localhost")
}

// localCAClient is a client that dials addr whatever the URL's host,
// trusts the daemon's local CA, sends serverName as the TLS server name
// ("" for the URL's host), keeps cookies, does not follow redirects and
// does not decompress.
func localCAClient(t *testing.T, cfg, addr, serverName string) *http.Client {
	t.Helper()
	root, err := NewAdminClient(AdminSocketFor(cfg)).TrustRoot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(root) {
		t.Fatalf("trust root is not PEM")
	}
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:     jar,
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:    &tls.Config{RootCAs: pool, ServerName: serverName},
			DisableCompression: true,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", addr)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// fetch sends a request and returns the response with its body read.
func fetch(t *testing.T, c *http.Client, method, u string, body io.Reader, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, u, err)
	}
	return resp, data
}

var csrfField = regexp.MustCompile(`name="csrfmiddlewaretoken" value="([^"]+)"`)

// startproject writes the stock site: `django-admin startproject`, an app
// with a model holding an uploaded file registered in the admin, media
// settings, PostgreSQL, and for ASGI the ASGI_APPLICATION that
// startproject's asgi.py provides — what a developer adds, nothing
// frontdoor asks for.
func startproject(t *testing.T, asgi bool, pgPort int, dbName string) string {
	t.Helper()
	parent := t.TempDir()
	run := func(dir string, args ...string) {
		cmd := exec.Command(systemPython, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run(parent, "-m", "django", "startproject", "mysite")
	project := filepath.Join(parent, "mysite")
	run(project, "manage.py", "startapp", "uploads")
	os.WriteFile(filepath.Join(project, "uploads", "models.py"), []byte(`from django.db import models


class Document(models.Model):
    title = models.CharField(max_length=100)
    file = models.FileField(upload_to='documents/')
`), 0o644)
	os.WriteFile(filepath.Join(project, "uploads", "admin.py"), []byte(`from django.contrib import admin

from .models import Document

admin.site.register(Document)
`), 0o644)
	settings := filepath.Join(project, "mysite", "settings.py")
	appendTo(t, settings, "\nINSTALLED_APPS += ['uploads']\nMEDIA_URL = '/media/'\nMEDIA_ROOT = BASE_DIR / 'media'\n")
	run(project, "manage.py", "makemigrations", "uploads")
	appendTo(t, settings, fmt.Sprintf(`
DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.postgresql',
        'NAME': %q,
        'USER': 'postgres',
        'HOST': '127.0.0.1',
        'PORT': '%d',
    }
}
`, dbName, pgPort))
	if asgi {
		appendTo(t, settings, "\nASGI_APPLICATION = 'mysite.asgi.application'\n")
	}
	testkit.GiveToAppUser(t, project)
	return project
}

// TestStartprojectSite is the stock site through init and run, under
// gunicorn (WSGI) and under uvicorn (ASGI): init names each problem with
// the line that fixes it and exits 1; with the printed lines pasted in it
// exits 0 and check passes; run serves the admin over HTTPS from the local
// CA — login with CSRF, its stylesheet precompressed, an upload stored in
// PostgreSQL and served from MEDIA_ROOT — and `frontdoor manage` made the
// superuser.
func TestStartprojectSite(t *testing.T) {
	needDjango(t)
	pg := startPG(t)
	for _, tc := range []struct {
		name   string
		asgi   bool
		server string
	}{{"gunicorn", false, "gunicorn mysite.wsgi:application"}, {"uvicorn", true, "uvicorn mysite.asgi:application"}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := "site_" + tc.name
			if out, err := exec.Command("runuser", "-u", "postgres", "--", filepath.Join("/usr/lib/postgresql/15/bin", "createdb"),
				"-h", "127.0.0.1", "-p", fmt.Sprint(pg.Port), db).CombinedOutput(); err != nil {
				t.Fatalf("createdb: %v\n%s", err, out)
			}
			project := startproject(t, tc.asgi, pg.Port, db)
			dir := t.TempDir()
			cfg := filepath.Join(dir, "frontdoor.toml")

			out, err := cli(t, "init", project, "--domain", "localhost", "--config", cfg)
			if err == nil {
				t.Fatalf("init exited 0 on a stock startproject (DEBUG on, no ALLOWED_HOSTS, no STATIC_ROOT):\n%s", out)
			}
			for _, want := range []string{tc.server, "ERROR   DEBUG is on", "fix, in mysite/settings.py:  DEBUG = False",
				"fix, in mysite/settings.py:  ALLOWED_HOSTS = ['localhost']", "fix, in mysite/settings.py:  STATIC_ROOT = BASE_DIR / 'staticfiles'",
				"import os\n            SECRET_KEY = os.environ['DJANGO_SECRET_KEY']", "SESSION_COOKIE_SECURE = True"} {
				if !strings.Contains(out, want) {
					t.Errorf("init output lacks %q:\n%s", want, out)
				}
			}
			if cmds := appliedFixes(t, out, project, nil); len(cmds) > 0 {
				t.Errorf("permission fixes for a project its owner runs: %q", cmds)
			}
			out, err = cli(t, "init", project, "--domain", "localhost", "--config", cfg)
			if err != nil {
				t.Fatalf("init after its fixes: %v\n%s", err, out)
			}
			if strings.Contains(out, "ERROR") {
				t.Errorf("init still reports an ERROR:\n%s", out)
			}
			httpAddr, httpsAddr := freePort(t), freePort(t)
			appendTo(t, cfg, siteServer(httpAddr, httpsAddr, dir))
			if out, err := cli(t, "check", "--config", cfg); err != nil {
				t.Fatalf("check: %v\n%s", err, out)
			}
			d := startDaemon(t, dir, httpAddr)
			await(t, 120*time.Second, "the site to serve", func() bool {
				st, ok := d.tryStatus()
				return ok && st.App != nil && st.App.Upstream != ""
			})
			create := exec.Command(binPath, "manage", "--config", cfg, "createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com")
			create.Env = append(os.Environ(), "DJANGO_SUPERUSER_PASSWORD=e2e-admin-password-7319")
			if out, err := create.CombinedOutput(); err != nil {
				t.Fatalf("frontdoor manage createsuperuser: %v\n%s", err, out)
			}

			c := localHTTPS(t, cfg, httpsAddr)
			base := "https://localhost:" + strings.Split(httpsAddr, ":")[1]
			resp, page := fetch(t, c, "GET", base+"/admin/login/?next=/admin/", nil, nil)
			if resp.StatusCode != 200 || !bytes.Contains(page, []byte("Django administration")) {
				t.Fatalf("GET /admin/login/ = %d\n%s", resp.StatusCode, page)
			}
			if resp.TLS == nil {
				t.Fatal("not over TLS")
			}
			css := "/static/admin/css/base.css"
			if !bytes.Contains(page, []byte(css)) {
				t.Fatalf("the login page does not link %s", css)
			}
			want, err := os.ReadFile("/usr/lib/python3/dist-packages/django/contrib/admin/static/admin/css/base.css")
			if err != nil {
				t.Fatal(err)
			}
			resp, body := fetch(t, c, "GET", base+css, nil, map[string]string{"Accept-Encoding": "br, gzip"})
			if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "br" || !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") ||
				len(body) >= len(want)/2 {
				t.Errorf("GET %s = %d, encoding %q, vary %q, %d bytes (file %d)", css, resp.StatusCode,
					resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"), len(body), len(want))
			}
			if _, plain := fetch(t, c, "GET", base+css, nil, nil); !bytes.Equal(plain, want) {
				t.Errorf("GET %s without Accept-Encoding: not the file", css)
			}

			// Log in: the CSRF token from the form, the cookie, the Referer
			// Django checks over HTTPS.
			token := csrfField.FindSubmatch(page)
			if token == nil {
				t.Fatalf("no CSRF token in the login form")
			}
			form := url.Values{"csrfmiddlewaretoken": {string(token[1])}, "username": {"admin"},
				"password": {"e2e-admin-password-7319"}, "next": {"/admin/"}}
			resp, body = fetch(t, c, "POST", base+"/admin/login/?next=/admin/", strings.NewReader(form.Encode()),
				map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Referer": base + "/admin/login/"})
			if resp.StatusCode != 302 || resp.Header.Get("Location") != "/admin/" {
				t.Fatalf("login = %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
			}
			for _, ck := range resp.Cookies() {
				if ck.Name == "sessionid" && !ck.Secure {
					t.Errorf("the session cookie is not Secure")
				}
			}
			resp, body = fetch(t, c, "GET", base+"/admin/", nil, nil)
			if resp.StatusCode != 200 || !bytes.Contains(body, []byte("Site administration")) {
				t.Fatalf("GET /admin/ after login = %d\n%s", resp.StatusCode, body)
			}

			// Upload a document through the admin: stored by Django in
			// MEDIA_ROOT, its row in PostgreSQL, served by the edge.
			resp, page = fetch(t, c, "GET", base+"/admin/uploads/document/add/", nil, nil)
			token = csrfField.FindSubmatch(page)
			if resp.StatusCode != 200 || token == nil {
				t.Fatalf("GET the add form = %d", resp.StatusCode)
			}
			var mp bytes.Buffer
			mw := multipart.NewWriter(&mp)
			mw.WriteField("csrfmiddlewaretoken", string(token[1]))
			mw.WriteField("title", "Quarterly report")
			mw.WriteField("_save", "Save")
			content := bytes.Repeat([]byte("frontdoor e2e upload "+tc.name+"\n"), 500)
			fw, _ := mw.CreateFormFile("file", "report-"+tc.name+".txt")
			fw.Write(content)
			mw.Close()
			resp, body = fetch(t, c, "POST", base+"/admin/uploads/document/add/", &mp,
				map[string]string{"Content-Type": mw.FormDataContentType(), "Referer": base + "/admin/uploads/document/add/"})
			if resp.StatusCode != 302 {
				t.Fatalf("upload = %d\n%s", resp.StatusCode, body)
			}
			resp, body = fetch(t, c, "GET", base+"/media/documents/report-"+tc.name+".txt", nil, nil)
			if resp.StatusCode != 200 || !bytes.Equal(body, content) {
				t.Errorf("GET the upload = %d, %d bytes (want %d)", resp.StatusCode, len(body), len(content))
			}
			count, err := exec.Command("runuser", "-u", "postgres", "--", filepath.Join("/usr/lib/postgresql/15/bin", "psql"),
				"-h", "127.0.0.1", "-p", fmt.Sprint(pg.Port), "-d", db, "-tAc", "SELECT count(*) FROM uploads_document").CombinedOutput()
			if err != nil || strings.TrimSpace(string(count)) != "1" {
				t.Errorf("documents in PostgreSQL: %q %v", count, err)
			}
		})
	}
}
