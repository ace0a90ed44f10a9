package appliance

import (
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"golang.org/x/sys/unix"
)

// Fair sharing of the machine between apps: gunicorn's own advice for one
// site is 2 × cores + 1 workers; several sites on one machine share that
// budget instead of each taking all of it (three apps at 2 × cores + 1
// each would run three times the workers the cores can keep busy, and
// each worker holds a whole Django in memory).

// workerBudget is how many application workers the machine runs well:
// 2 × cores + 1, no more than memory holds at workerMemory each.
func workerBudget() int {
	budget := 2*runtime.NumCPU() + 1
	if mem := totalMemory(); mem > 0 {
		budget = min(budget, max(1, int(mem/workerMemory)))
	}
	return budget
}

// workerMemory is what one gunicorn worker of a Django project takes in
// resident memory, roughly: a stock startproject site's gthread worker
// measured 45–60 MiB here after serving its admin; a real project with
// its libraries more. The budget reckons with 128 MiB.
const workerMemory = 128 << 20

// totalMemory is the machine's RAM in bytes (0 when unknown).
func totalMemory() uint64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0
	}
	return uint64(si.Totalram) * uint64(si.Unit)
}

// workerShares gives each app without its own workers setting its share
// of the budget: what the apps that set theirs leave, divided evenly,
// at least 1 each. A single app keeps 2 × cores + 1, as before.
func (c *Config) workerShares() map[string]int {
	return shareWorkers(c.Apps, workerBudget())
}

func shareWorkers(apps []AppConfig, budget int) map[string]int {
	shares := make(map[string]int, len(apps))
	fixed, unset := 0, 0
	for i := range apps {
		if apps[i].Workers > 0 {
			fixed += apps[i].Workers
		} else {
			unset++
		}
	}
	share := 1
	if unset > 0 && budget > fixed {
		share = max(1, (budget-fixed)/unset)
	}
	for i := range apps {
		if apps[i].Workers > 0 {
			shares[apps[i].Name] = apps[i].Workers
		} else {
			shares[apps[i].Name] = share
		}
	}
	return shares
}

// writeWorkerShares tells init's user how the apps of the configuration
// text share the machine's workers, and warns when they ask for more than
// it runs well.
func writeWorkerShares(out io.Writer, text []byte) {
	var c Config
	if toml.Unmarshal(text, &c) != nil || len(c.Apps) < 2 {
		return
	}
	c.applyAppDefaults()
	budget := workerBudget()
	shares := shareWorkers(c.Apps, budget)
	sum := 0
	var parts []string
	for i := range c.Apps {
		n := shares[c.Apps[i].Name]
		sum += n
		how := "its share"
		if c.Apps[i].Workers > 0 {
			how = "its workers setting"
		}
		parts = append(parts, fmt.Sprintf("%s %d (%s)", c.Apps[i].Name, n, how))
	}
	fmt.Fprintf(out, "\nworkers: the %d apps share what this machine runs well, %d gunicorn workers (2 × %d cores + 1, at most one per %d MiB of its %s of memory): %s\n",
		len(c.Apps), budget, runtime.NumCPU(), workerMemory>>20, humanBytes(totalMemory()), strings.Join(parts, ", "))
	if sum > budget {
		fmt.Fprintf(out, "WARNING: together they run %d workers, more than the %d this machine runs well: they will compete for the cores and memory.\n"+
			"  Lower workers = N in the apps that set it, or give the busier app more and the others fewer.\n", sum, budget)
	}
}
