// Command pulumi-resource-pulumi-nodejs starts @pulumi/pulumi's dynamic-provider server, the way
// the shell launcher shipped in @pulumi/pulumi does, and ends it when the engine is gone.
//
// The engine starts this plugin itself (not through the language host), passing its address as
// the last argument. The node server never looks at the engine again, so after an engine that was
// killed it would serve nothing forever, in the middle of whatever create it was running.
// Here the launcher stays the node server's parent and watches the engine (enginewatch): when the
// engine stops answering, the plugin's process group, node included, is killed.
//
// An operator command wants the server ready before the engine asks for it: node and @pulumi/pulumi
// take a second or more to load, which would otherwise come after the program registered its first
// resource. So it starts `pulumi-resource-pulumi-nodejs -warm <port file>` when it starts, and runs the
// CLI with SOUNZ_PROVIDER_PORT_FILE=<port file>; the launcher the engine starts then hands the engine
// that server's port instead of starting a node of its own (see warm and warmPort).
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/version"

	"sounz-standby/toolchain/cli/internal/enginewatch"
	"sounz-standby/toolchain/cli/internal/preload"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "-version" {
		fmt.Println(version.Version)
		return
	}
	if len(os.Args) == 3 && os.Args[1] == "-warm" {
		os.Exit(warm(os.Args[2]))
	}
	os.Exit(run(os.Args[1:]))
}

// portFileEnv names, in the engine's environment, the port file of a warm server.
const portFileEnv = "SOUNZ_PROVIDER_PORT_FILE"

// failed is what a warm launcher writes into the port file when its server ended without a port.
const failed = "failed"

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
	if file := os.Getenv(portFileEnv); file != "" {
		if port, ok := warmPort(file); ok {
			fmt.Println(port)
			// Nothing to serve here: wait for the engine's orderly shutdown (a signal), or its end,
			// which enginewatch answers. The server is the operator command's to end.
			signals := make(chan os.Signal, 1)
			signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
			<-signals
			return 0
		}
		// No warm server after all: start one as always.
	}

	cmd, err := serverCommand(args...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-pulumi-nodejs: %v\n", err)
		return 1
	}
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

// warm starts the server for an operator command, writes its port into portFile once it listens, and
// ends it (this process's whole group) when stdin closes: when the command is done with it, or gone.
func warm(portFile string) int {
	if err := enginewatch.Start(""); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-pulumi-nodejs: %v\n", err)
		return 1
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = syscall.Kill(0, syscall.SIGKILL)
	}()
	port, err := startWarm()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-pulumi-nodejs: no warm server: %v\n", err)
		port = failed
	}
	// Renamed into place, so that a reader never sees half a port.
	if err := os.WriteFile(portFile+".tmp", []byte(port), 0o600); err == nil {
		err = os.Rename(portFile+".tmp", portFile)
	}
	if port == failed {
		return 1
	}
	select {} // until stdin closes
}

// startWarm starts node's server and returns its port; what the server prints later (the providers'
// own output) goes to stderr.
func startWarm() (string, error) {
	// The server wants the engine's address as its argument, and never uses it.
	cmd, err := serverCommand("warm")
	if err != nil {
		return "", err
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("could not start node: %w", err)
	}
	reader := bufio.NewReader(out)
	line, err := reader.ReadString('\n')
	port := strings.TrimSpace(line)
	if _, convErr := strconv.Atoi(port); err != nil || convErr != nil {
		return "", fmt.Errorf("the server printed no port (%q, %v)", line, err)
	}
	go func() { _, _ = io.Copy(os.Stderr, reader) }()
	return port, nil
}

// warmPort waits for the warm server's port in file. False when that server failed, or gave no port
// in warmWait (a node that hangs in its start): the engine then gets a server of its own.
func warmPort(file string) (string, bool) {
	for deadline := time.Now().Add(warmWait); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if content, err := os.ReadFile(file); err == nil {
			port := string(content)
			return port, port != failed
		}
	}
	fmt.Fprintf(os.Stderr, "pulumi-resource-pulumi-nodejs: no port in %s within %v; starting a server\n", file, warmWait)
	return "", false
}

// warmWait is how long the engine's launcher waits for a warm server that is still starting.
const warmWait = 20 * time.Second

// serverCommand is node running the server of the program's own @pulumi/pulumi, found as node's
// require.resolve would from the working directory the engine gives us (the project): in the nearest
// node_modules upwards. Looked up here rather than by a node of its own, which took 0.15 s per start.
// The project's preload comes first, when it has one.
func serverCommand(args ...string) (*exec.Cmd, error) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	for {
		server := filepath.Join(dir, "node_modules", "@pulumi", "pulumi", "cmd", "dynamic-provider", "index.js")
		if _, err := os.Stat(server); err == nil {
			return exec.Command("node", append(append(preload.Args(dir), server), args...)...), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil, errors.New("@pulumi/pulumi is not installed here (run npm ci)")
		}
		dir = parent
	}
}
