package appliance

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"frontdoor/acme"
	"frontdoor/supervisor"
)

// stderrShown is how many of a failed process's last stderr lines the
// status screen shows.
const stderrShown = 6

// WriteStatus renders a status report as one screen of text: edge,
// application processes, PostgreSQL, last deploy, certificates, recent
// events. now is the reference for ages ("3m ago").
func WriteStatus(w io.Writer, rep StatusReport, now time.Time) {
	fmt.Fprintf(w, "frontdoor  pid %d · up %s · %s\n\n", rep.PID, shortDuration(now.Sub(rep.Started)), rep.Config)

	e := rep.Edge
	var ls []string
	for _, l := range e.Listeners {
		ls = append(ls, l.Name+" "+l.Addr)
	}
	fmt.Fprintf(w, "edge      %s · %d workers\n", strings.Join(ls, " · "), e.Workers)
	rate := "req/s: measuring"
	if e.RateInterval > 0 {
		rate = fmt.Sprintf("%.1f req/s (last %s)", e.RequestsPerSecond, shortDuration(e.RateInterval))
	}
	fmt.Fprintf(w, "          %d connections · %d requests · %s\n\n", e.Connections, e.Requests, rate)

	if len(rep.Apps) == 0 && rep.App != nil {
		// A daemon from before [[app]] reports its one app this way.
		rep.Apps = []AppStatus{{Name: defaultAppName, Status: rep.App, Pending: rep.AppPending}}
	}
	if len(rep.Apps) == 0 {
		fmt.Fprintf(w, "app       none configured (frontdoor init DJANGO_DIR writes an [app])\n\n")
	}
	for _, as := range rep.Apps {
		title := "app"
		if len(rep.Apps) > 1 || as.Name != defaultAppName {
			title = "app " + as.Name
		}
		if m := as.Maintenance; m != nil {
			msg := ""
			if m.Message != "" {
				msg = ": " + m.Message
			}
			fmt.Fprintf(w, "%-9s IN MAINTENANCE since %s (its routes answer 503%s; frontdoor maintenance off %s)\n", title, eventTime(m.Since, now), msg, as.Name)
		}
		if as.Status == nil {
			fmt.Fprintf(w, "%-9s not running\n\n", title)
			continue
		}
		writeApp(w, title, as.Status, now)
		if as.Pending != nil {
			writeApp(w, "new "+title, as.Pending, now)
		}
	}

	if len(rep.Certificates) > 0 {
		fmt.Fprintf(w, "certs     ")
		for i, c := range rep.Certificates {
			if i > 0 {
				fmt.Fprintf(w, "          ")
			}
			fmt.Fprintf(w, "%s  %s (%s)", c.Name, c.State, c.Source)
			if !c.NotAfter.IsZero() {
				fmt.Fprintf(w, " until %s (%s)", c.NotAfter.Local().Format("2006-01-02"), daysLeftText(c.NotAfter, now))
			}
			if c.LastError != "" {
				fmt.Fprintf(w, " · last error: %s", c.LastError)
			} else if c.State == "unreachable" && c.Resolve != "" {
				fmt.Fprintf(w, " · %s", c.Resolve)
			}
			if c.OrderingEdge != "" {
				fmt.Fprintf(w, " · edge %s orders it", c.OrderingEdge)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w)
	}
	writeClusterLine(w, rep.Cluster, now)

	if len(rep.Events) > 0 {
		fmt.Fprintf(w, "events    (newest first)\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, ev := range rep.Events {
			who := ev.Attrs["process"]
			if who == "" {
				who = ev.Source
			} else if app := ev.Attrs["app"]; app != "" && len(rep.Apps) > 1 {
				who = app + "/" + who
			}
			fmt.Fprintf(tw, "          %s\t%s\t%s\t%s\n", eventTime(ev.Time, now), who, ev.Kind, ev.Message)
		}
		tw.Flush()
	}
	if rep.EventsDropped > 0 {
		fmt.Fprintf(w, "          (%d events were not stored: the state file fell behind)\n", rep.EventsDropped)
	}
}

// writeApp renders the application: the server, its processes, their
// failures, PostgreSQL and the last deploy.
func writeApp(w io.Writer, title string, st *supervisor.Status, now time.Time) {
	upstream := st.Upstream
	if upstream == "" {
		upstream = "nothing: the edge answers 503"
	}
	server := strings.TrimSpace(string(st.Server) + " " + st.App)
	if server == "" {
		server = "(not inspected yet)"
	}
	fmt.Fprintf(w, "%-9s %s → %s\n", title, server, upstream)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "          PROCESS\tSTATE\tPID\tUPTIME\tRESTARTS\tCPU\tRSS\n")
	procs := []supervisor.ProcessStatus{st.Web}
	procs = append(procs, st.Draining...)
	procs = append(procs, st.Processes...)
	for _, p := range procs {
		name := p.Name
		if p.Generation > 0 {
			name = fmt.Sprintf("%s #%d", p.Name, p.Generation)
		}
		pid, uptime, cpu, rss := "-", "-", "-", "-"
		if p.PID > 0 {
			pid = fmt.Sprint(p.PID)
			uptime = shortDuration(p.Uptime)
			cpu = fmt.Sprintf("%.1f%%", p.CPUPercent)
			rss = humanBytes(p.RSSBytes)
		}
		state := string(p.State)
		if p.State == supervisor.StateFatal {
			state = "FATAL"
		}
		fmt.Fprintf(tw, "          %s\t%s\t%s\t%s\t%d\t%s\t%s\n", name, state, pid, uptime, p.Restarts, cpu, rss)
	}
	tw.Flush()
	for _, p := range procs {
		writeFailure(w, p, now)
	}
	if st.DeployPhase != "" {
		fmt.Fprintf(w, "          under way: %s\n", st.DeployPhase)
	}
	fmt.Fprintln(w)

	pg := st.Postgres
	if pg.Used {
		fmt.Fprintf(w, "postgres  %s (checked every %s)\n", pg.State, shortDuration(pg.Interval))
		for _, d := range pg.Databases {
			line := fmt.Sprintf("          %s: %s since %s", d.Database, d.State, eventTime(d.Since, now))
			if d.State == supervisor.HealthUp {
				line += fmt.Sprintf(", %s per check", d.Latency.Round(10*time.Microsecond))
			}
			if d.Error != "" {
				line += " · " + d.Error
			}
			fmt.Fprintln(w, line)
		}
	} else {
		fmt.Fprintf(w, "postgres  not used by the project\n")
	}
	if d := st.LastDeploy; d != nil {
		outcome := "ok"
		if !d.OK {
			outcome = "FAILED: " + d.Error
		}
		fmt.Fprintf(w, "deploy    last %s %s ago, took %s: %s", d.Kind, shortDuration(now.Sub(d.Finished)), shortDuration(d.Finished.Sub(d.Started)), outcome)
		if d.OK && d.Generation > 0 {
			fmt.Fprintf(w, " (generation %d)", d.Generation)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "deploy    none finished yet\n")
	}
	fmt.Fprintln(w)
}

// writeFailure shows why a process is down (backoff, FATAL: the error,
// the next attempt, the exit and its stderr or the failed step's output),
// or, for one that recovered, its last failure in one line.
func writeFailure(w io.Writer, p supervisor.ProcessStatus, now time.Time) {
	name := p.Name
	if p.Generation > 0 && p.State == supervisor.StateDraining {
		return
	}
	f := p.LastFailure
	if p.State != supervisor.StateBackoff && p.State != supervisor.StateFatal {
		if f != nil {
			fmt.Fprintf(w, "          %s: last failure %s ago: %s\n", name, shortDuration(now.Sub(f.Time)), f.Reason)
		}
		return
	}
	msg := fmt.Sprintf("          %s: %s", name, p.Error)
	if !p.NextRetry.IsZero() {
		msg += fmt.Sprintf("; next attempt in %s", shortDuration(p.NextRetry.Sub(now)))
		if p.State == supervisor.StateFatal {
			msg += " or at the next deploy"
		}
	}
	fmt.Fprintln(w, msg)
	x := p.LastExit
	if f != nil {
		x = f.Exit
	}
	if x != nil {
		fmt.Fprintf(w, "          last exit: %s at %s after %s\n", x, x.Time.Local().Format("15:04:05"), shortDuration(x.Ran))
		for _, line := range lastLines(x.Stderr, stderrShown) {
			fmt.Fprintf(w, "            | %s\n", line)
		}
	}
	if f != nil && len(f.Output) > 0 {
		fmt.Fprintf(w, "          its last output:\n")
		for _, line := range lastLines(f.Output, stderrShown) {
			fmt.Fprintf(w, "            | %s\n", line)
		}
	}
}

// WriteDeployResult renders a deploy's outcome: the steps, their output
// when one failed, and what serves now.
func WriteDeployResult(w io.Writer, res DeployResult) {
	rep := res.Report
	if rep == nil {
		fmt.Fprintf(w, "deploy failed: %s\n", res.Error)
		return
	}
	took := shortDuration(rep.Finished.Sub(rep.Started))
	if res.App != "" && res.App != defaultAppName {
		fmt.Fprintf(w, "%s: ", res.App)
	}
	if res.OK {
		fmt.Fprintf(w, "%s ok in %s: generation %d serves", rep.Kind, took, rep.Generation)
		if rep.Replaced > 0 {
			fmt.Fprintf(w, "; generation %d drains and stops", rep.Replaced)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "%s FAILED after %s: %s\n", rep.Kind, took, res.Error)
	}
	WriteSteps(w, rep)
	if !res.OK {
		if x := rep.Exit; x != nil {
			fmt.Fprintf(w, "the new generation ended: %s after %s\n", x, shortDuration(x.Ran))
			for _, line := range lastLines(x.Stderr, 20) {
				fmt.Fprintf(w, "  | %s\n", line)
			}
		}
		fmt.Fprintf(w, "the generation that was serving keeps serving.\n")
	}
}

// WriteSteps lists a deploy's release steps, with the output of a failed one.
func WriteSteps(w io.Writer, rep *supervisor.DeployReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range rep.Steps {
		switch {
		case s.Skipped != "":
			fmt.Fprintf(tw, "  %s\tskipped\t(%s)\n", s.Name, s.Skipped)
		case s.OK:
			fmt.Fprintf(tw, "  %s\tok\t%s\n", s.Name, shortDuration(s.Duration))
		default:
			fmt.Fprintf(tw, "  %s\tFAILED\t%s: %s\n", s.Name, shortDuration(s.Duration), s.Error)
		}
	}
	tw.Flush()
	for _, s := range rep.Steps {
		if !s.OK && s.Skipped == "" && len(s.Output) > 0 {
			fmt.Fprintf(w, "output of %s:\n", s.Name)
			for _, line := range s.Output {
				fmt.Fprintf(w, "  | %s\n", line)
			}
		}
	}
}

// WriteReloadResult renders a reload's outcome.
func WriteReloadResult(w io.Writer, res ReloadResult) {
	if res.ConfigError != "" {
		fmt.Fprintf(w, "reload refused; the previous configuration stays in force:\n")
		for _, line := range strings.Split(res.ConfigError, "\n") {
			fmt.Fprintf(w, "  %s\n", line)
		}
		return
	}
	switch {
	case len(res.Apps) > 0:
		fmt.Fprintln(w, "configuration reloaded; the applications:")
		for _, app := range res.Apps {
			if app.Error != "" {
				fmt.Fprintf(w, "  %s: FAILED: %s\n", app.Name, app.Error)
			} else {
				fmt.Fprintf(w, "  %s: %s\n", app.Name, app.App)
			}
			if app.Deploy != nil {
				WriteSteps(w, app.Deploy)
			}
		}
	case res.Error == "":
		fmt.Fprintf(w, "configuration reloaded")
		if res.App != "" {
			fmt.Fprintf(w, "; application: %s", res.App)
		}
		fmt.Fprintln(w)
	default:
		fmt.Fprintf(w, "configuration reloaded, but the application: %s\n", res.Error)
	}
	if res.AppPending {
		fmt.Fprintln(w, "the application's part goes on in the background (frontdoor status shows how it ends)")
	}
	if len(res.RestartNeeded) > 0 {
		fmt.Fprintln(w, "not applied until a restart (systemctl restart frontdoor):")
		for _, k := range res.RestartNeeded {
			fmt.Fprintf(w, "  %s\n", k)
		}
	}
	if res.Deploy != nil {
		WriteSteps(w, res.Deploy)
	}
}

func lastLines(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}

// eventTime is "15:04:05" for today, "Jan 02 15:04" before.
func eventTime(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	if t.Year() == now.Year() && t.YearDay() == now.YearDay() {
		return t.Format("15:04:05")
	}
	return t.Format("Jan 02 15:04")
}

// shortDuration is "850ms", "42s", "3m05s", "2h03m", "4d02h".
func shortDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// humanBytes is "512 KiB", "182.4 MiB".
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, suffix := float64(n)/unit, "KiB"
	for _, s := range []string{"MiB", "GiB", "TiB"} {
		if v < unit {
			break
		}
		v, suffix = v/unit, s
	}
	return fmt.Sprintf("%.1f %s", v, suffix)
}

// daysLeftText says how long a certificate has left: "41 days left",
// "expired".
func daysLeftText(notAfter, now time.Time) string {
	if !now.Before(notAfter) {
		return "expired"
	}
	d := acme.DaysLeft(notAfter, now)
	if d == 1 {
		return "1 day left"
	}
	return fmt.Sprintf("%d days left", d)
}
