package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"frontdoor/appliance"
	"frontdoor/state/cluster"
)

// The [cluster] commands: every edge's state, and a new cluster key.

// showCluster prints `frontdoor status --cluster`.
func showCluster(ctx context.Context, c *appliance.AdminClient, asJSON bool, stdout io.Writer) error {
	rep, err := c.Cluster(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	appliance.WriteClusterReport(stdout, rep, time.Now())
	return nil
}

// cmdClusterKey prints a new random cluster key.
func cmdClusterKey(args []string, stdout, stderr io.Writer) error {
	fs := flags("cluster-key", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (the key goes to standard output: frontdoor cluster-key > %s)", fs.Arg(0), cluster.DefaultKeyFile)
	}
	_, err := io.WriteString(stdout, cluster.NewKey())
	return err
}
