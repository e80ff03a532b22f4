// Command pulumi-resource-pulumi-nodejs starts @pulumi/pulumi's dynamic-provider server, the way
// the shell launcher shipped in @pulumi/pulumi does, and ends it when the engine is gone.
//
// The engine starts this plugin itself (not through the language host), passing its address as
// the last argument. The node server never looks at the engine again, so after an engine that was
// killed it would serve nothing forever, in the middle of whatever create it was running.
// Here the launcher stays the node server's parent and watches the engine (enginewatch): when the
// engine stops answering, the plugin's process group, node included, is killed.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/pulumi/pulumi/sdk/v3/go/common/version"

	"sounz-standby/toolchain/cli/internal/enginewatch"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "-version" {
		fmt.Println(version.Version)
		return
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	// Logging flags come first; the engine's address is the last positional argument.
	engineAddress := ""
	for _, arg := range args {
		if !strings.HasPrefix(arg, "-") {
			engineAddress = arg
		}
	}
	if err := enginewatch.Start(engineAddress); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-pulumi-nodejs: could not watch the engine: %v\n", err)
		return 1
	}

	server, err := dynamicProviderServer()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-pulumi-nodejs: %v\n", err)
		return 1
	}
	cmd := exec.Command("node", append([]string{server}, args...)...)
	// The server prints its port on stdout for the engine, which reads it from ours.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-pulumi-nodejs: could not start node: %v\n", err)
		return 1
	}

	// The engine's orderly shutdown interrupts the whole group, node included; a signal sent to
	// this process alone is passed on. Either way the launcher ends when node does.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		for sig := range signals {
			_ = cmd.Process.Signal(sig)
		}
	}()

	err = cmd.Wait()
	var exit *exec.ExitError
	if err == nil {
		return 0
	} else if !errors.As(err, &exit) {
		fmt.Fprintf(os.Stderr, "pulumi-resource-pulumi-nodejs: waiting for node: %v\n", err)
		return 1
	}
	// Ended by a signal is the engine's orderly shutdown: exit as a shell would, without a word
	// (the engine shows a plugin's stderr to the user).
	if status, ok := exit.Sys().(syscall.WaitStatus); ok && status.Signaled() {
		return 128 + int(status.Signal())
	}
	return exit.ExitCode()
}

// dynamicProviderServer is the server of the program's own @pulumi/pulumi, found as node's
// require.resolve would from the working directory the engine gives us (the project): in the nearest
// node_modules upwards. Looked up here rather than by a node of its own, which took 0.15 s per start.
func dynamicProviderServer() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		server := filepath.Join(dir, "node_modules", "@pulumi", "pulumi", "cmd", "dynamic-provider", "index.js")
		if _, err := os.Stat(server); err == nil {
			return server, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("@pulumi/pulumi is not installed here (run npm ci)")
		}
		dir = parent
	}
}
