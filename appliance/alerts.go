package appliance

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"frontdoor/acme"
)

// Certificate alerts through [tls] alert_command: Let's Encrypt sends no
// expiry mail any more, so frontdoor runs the operator's command (a mail
// or webhook script) when a certificate needs a human.

// alertKinds are the certificate events that run alert_command.
var alertKinds = map[string]bool{"expiry-warning": true, "expiry-critical": true, "failed": true}

// alertTimeout bounds one run of alert_command.
const alertTimeout = 30 * time.Second

// alertQueue is how many alerts may wait for the command; more are
// dropped (and logged): a command that hangs must not pile up processes.
const alertQueue = 32

// alert queues e for alert_command when it is an alert and a command is
// configured. It never blocks.
func (a *Appliance) alert(e acme.Event) {
	if !alertKinds[e.Kind] {
		return
	}
	argv := a.alertArgv.Load()
	if argv == nil || len(*argv) == 0 {
		return
	}
	a.alertsOnce.Do(func() {
		a.alerts = make(chan alertJob, alertQueue)
		go a.runAlerts()
	})
	select {
	case a.alerts <- alertJob{argv: *argv, event: e}:
	default:
		a.log.Error("alert_command is behind; alert dropped", "kind", e.Kind, "name", e.Name)
	}
}

type alertJob struct {
	argv  []string
	event acme.Event
}

// runAlerts runs queued alerts one at a time for the process's life.
func (a *Appliance) runAlerts() {
	for job := range a.alerts {
		if err := runAlertCommand(job.argv, job.event, time.Now()); err != nil {
			a.log.Error("alert_command failed", "kind", job.event.Kind, "name", job.event.Name, "err", err)
		}
	}
}

// runAlertCommand runs argv with the alert in its environment
// (FRONTDOOR_ALERT_KIND, _NAME, _MESSAGE, _NOT_AFTER, _DAYS_LEFT) and the
// message on standard input.
func runAlertCommand(argv []string, e acme.Event, now time.Time) error {
	ctx, cancel := context.WithTimeout(context.Background(), alertTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), alertEnv(e, now)...)
	cmd.Stdin = strings.NewReader(fmt.Sprintf("frontdoor: %s: %s: %s\n", e.Kind, e.Name, e.Message))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", argv[0], err, strings.TrimSpace(string(out)))
	}
	return nil
}

// alertEnv is the environment an alert command gets.
func alertEnv(e acme.Event, now time.Time) []string {
	env := []string{
		"FRONTDOOR_ALERT_KIND=" + e.Kind,
		"FRONTDOOR_ALERT_NAME=" + e.Name,
		"FRONTDOOR_ALERT_MESSAGE=" + e.Message,
	}
	if !e.NotAfter.IsZero() {
		env = append(env,
			"FRONTDOOR_ALERT_NOT_AFTER="+e.NotAfter.UTC().Format(time.RFC3339),
			"FRONTDOOR_ALERT_DAYS_LEFT="+strconv.Itoa(acme.DaysLeft(e.NotAfter, now)))
	}
	return env
}
