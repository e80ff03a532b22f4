// Package enginewatch ends a plugin process, and everything it started, once the Pulumi engine
// that started it is gone.
//
// The engine starts every plugin in a process group of its own and, when it shuts down normally,
// interrupts and then kills that group. An engine that is itself killed (SIGKILL, OOM, a lost
// terminal) does neither, and a plugin that only waits for requests would then wait forever with
// the node processes under it. Upstream plugins avoid that the same way: they poll the engine's
// gRPC health service at the address the engine passed them and stop when it no longer answers.
package enginewatch

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
)

// Interval between two health checks of the engine: the longest a run's processes outlive it.
// A check is one local gRPC call, so polling this often costs nothing measurable.
const Interval = 500 * time.Millisecond

// Start makes this process lead its own process group (a no-op when the engine started it, since
// the engine already does so) and, when engineAddress is not empty, watches the engine: once a
// health check fails, the whole group is killed with SIGKILL, this process included. Everything
// this process starts inherits the group, so nothing of the run is left behind.
func Start(engineAddress string) error {
	if syscall.Getpgrp() != syscall.Getpid() {
		// Started by something other than the engine: lead a group of our own, so that killing
		// "our group" can never reach the processes of whoever started us.
		if err := syscall.Setpgid(0, 0); err != nil {
			return fmt.Errorf("could not start a process group of our own: %w", err)
		}
	}
	if engineAddress == "" {
		return nil
	}
	return rpcutil.Healthcheck(context.Background(), engineAddress, Interval, func() {
		// Nobody reads our output any more, so there is no one to tell; pid 0 is our own group.
		_ = syscall.Kill(0, syscall.SIGKILL)
	})
}
