// Command pulumi-language-nodejs is a minimal Node.js language host for the Pulumi CLI.
//
// The upstream host is its own Go module, which the Go module proxy available to this project
// does not serve. This one runs the program the way @pulumi/pulumi's `cmd/run` expects
// (`preview`, `up`, `refresh`, `destroy`) and answers what `pulumi install`, `pulumi about` and
// `pulumi plugin ls` ask, with npm only: no yarn or pnpm, no code generation, no debugger.
// It ends, with the program it runs, when the engine that started it is gone (enginewatch).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	"sounz-standby/toolchain/cli/internal/enginewatch"
	"sounz-standby/toolchain/cli/internal/preload"
)

// exitUserActionable is the exit code @pulumi/pulumi uses after it has already printed an error
// the user can act on: the engine must not add a stack trace of its own.
const exitUserActionable = 32

type languageHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-version" {
		fmt.Println(version.Version)
		return
	}
	host := &languageHost{}
	// The engine passes its address as the last positional argument, possibly after logging flags.
	for _, arg := range os.Args[1:] {
		if !strings.HasPrefix(arg, "-") {
			host.engineAddress = arg
		}
	}
	if err := enginewatch.Start(host.engineAddress); err != nil {
		fmt.Fprintf(os.Stderr, "could not watch the engine: %v\n", err)
		os.Exit(1)
	}
	cancel := make(chan bool)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "could not start the language host: %v\n", err)
		os.Exit(1)
	}
	// The engine reads the port from the first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "language host stopped: %v\n", err)
		os.Exit(1)
	}
}

func (h *languageHost) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engineAddress = req.GetEngineAddress()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *languageHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

// The program's plugins are on PATH or installed by the project's toolchain script, so the
// engine has nothing to discover or download.
func (h *languageHost) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *languageHost) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *languageHost) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (h *languageHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	runScript, err := resolveRunScript(info.GetProgramDirectory())
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	args := append(preload.Args(info.GetRootDirectory()), runScript,
		"--monitor", req.GetMonitorAddress(),
		"--engine", h.engineAddress,
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--pwd", info.GetProgramDirectory(),
		"--parallel", strconv.Itoa(int(req.GetParallel())),
	)
	if org := req.GetOrganization(); org != "" {
		args = append(args, "--organization", org)
	}
	if root := info.GetRootDirectory(); root != "" {
		args = append(args, "--root-directory", root)
	}
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	args = append(args, info.GetEntryPoint())
	args = append(args, req.GetArgs()...)

	env, err := programEnv(req)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = info.GetProgramDirectory()
	cmd.Env = env
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			if exit.ExitCode() == exitUserActionable {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exit.ExitCode())}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not run node: %v", err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// resolveRunScript asks node where @pulumi/pulumi's program runner is, so that hoisted or
// nested node_modules layouts resolve the way the program itself will.
func resolveRunScript(programDir string) (string, error) {
	cmd := exec.Command("node", "-e", "console.log(require.resolve('@pulumi/pulumi/cmd/run'))")
	cmd.Dir = programDir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("@pulumi/pulumi is not installed in %s (run npm ci): %v", programDir, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// programEnv passes config the way @pulumi/pulumi reads it: PULUMI_CONFIG maps
// "<namespace>:config:<name>" to the value, PULUMI_CONFIG_SECRET_KEYS lists the secret keys.
func programEnv(req *pulumirpc.RunRequest) ([]string, error) {
	config := map[string]string{}
	for key, value := range req.GetConfig() {
		namespace, name, ok := strings.Cut(key, ":")
		if !ok {
			return nil, fmt.Errorf("config key %q has no namespace", key)
		}
		config[namespace+":config:"+name] = value
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(),
		"PULUMI_CONFIG="+string(configJSON),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretJSON))
	options := req.GetInfo().GetOptions().AsMap()
	if ts, ok := options["typescript"].(bool); !ok || ts {
		env = append(env, "PULUMI_NODEJS_TYPESCRIPT=true")
	}
	if tsconfig, ok := options["tsconfig"].(string); ok && tsconfig != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+tsconfig)
	}
	return env, nil
}

// packageDir is the directory of the program's package.json: the program directory or the nearest
// one above it, up to the project root (a Pulumi.yaml `main:` may point into a subdirectory).
func packageDir(info *pulumirpc.ProgramInfo) (string, error) {
	dir := info.GetProgramDirectory()
	root := info.GetRootDirectory()
	for {
		if _, err := os.Stat(filepath.Join(dir, "package.json")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if dir == root || root == "" || parent == dir {
			return "", fmt.Errorf("no package.json in %s or above it in the project", info.GetProgramDirectory())
		}
		dir = parent
	}
}

// InstallDependencies runs `npm ci` when the package has a lock file (exactly what it pins), else
// `npm install` (which writes one). npm's output streams back to the engine as it comes.
func (h *languageHost) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	dir, err := packageDir(req.GetInfo())
	if err != nil {
		return err
	}
	verb := "install"
	if _, err := os.Stat(filepath.Join(dir, "package-lock.json")); err == nil {
		verb = "ci"
	}
	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(server, req.GetIsTerminal())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Installing dependencies in %s: npm %s\n", dir, verb)
	cmd := exec.CommandContext(server.Context(), "npm", verb, "--no-audit", "--no-fund")
	cmd.Dir = dir
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	runErr := cmd.Run()
	closeErr := closer.Close()
	if runErr != nil {
		return fmt.Errorf("npm %s in %s failed: %w", verb, dir, runErr)
	}
	return closeErr
}

// About names the node the program runs with.
func (h *languageHost) About(ctx context.Context, _ *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("node is not on PATH: %w", err)
	}
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --version failed: %w", node, err)
	}
	return &pulumirpc.AboutResponse{
		Executable: node,
		Version:    strings.TrimPrefix(strings.TrimSpace(string(out)), "v"),
	}, nil
}

// packageLock is the part of package-lock.json (lockfileVersion 2 and 3) read here: "packages"
// maps "" to the package itself and "node_modules/a/node_modules/b" to each installed package.
type packageLock struct {
	LockfileVersion int `json:"lockfileVersion"`
	Packages        map[string]struct {
		Name                 string            `json:"name"`
		Version              string            `json:"version"`
		Dependencies         map[string]string `json:"dependencies"`
		DevDependencies      map[string]string `json:"devDependencies"`
		OptionalDependencies map[string]string `json:"optionalDependencies"`
	} `json:"packages"`
}

// GetProgramDependencies lists what package-lock.json pins: the package's direct dependencies
// (runtime, dev and optional, as installed at the top of node_modules), or every installed
// package when transitive dependencies are asked for. The lock file, not node_modules, is the
// record of what `npm ci` installs, so a program that is not installed yet is described too.
func (h *languageHost) GetProgramDependencies(
	_ context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	dir, err := packageDir(req.GetInfo())
	if err != nil {
		return nil, err
	}
	lockPath := filepath.Join(dir, "package-lock.json")
	data, err := os.ReadFile(lockPath)
	if err != nil {
		return nil, fmt.Errorf("%v (run `pulumi install` or npm install to write it)", err)
	}
	var lock packageLock
	if err := json.Unmarshal(data, &lock); err != nil {
		return nil, fmt.Errorf("%s: %w", lockPath, err)
	}
	root, ok := lock.Packages[""]
	if lock.LockfileVersion < 2 || !ok {
		return nil, fmt.Errorf("%s has lockfileVersion %d: only 2 and 3 (npm 7 or later) are read",
			lockPath, lock.LockfileVersion)
	}

	seen := map[string]bool{}
	var deps []*pulumirpc.DependencyInfo
	add := func(name, version string) {
		if !seen[name+"@"+version] {
			seen[name+"@"+version] = true
			deps = append(deps, &pulumirpc.DependencyInfo{Name: name, Version: version})
		}
	}
	if req.GetTransitiveDependencies() {
		for path, pkg := range lock.Packages {
			at := strings.LastIndex(path, "node_modules/")
			if at < 0 {
				continue // the package itself, or a workspace folder
			}
			name := pkg.Name // set when the folder name is an alias
			if name == "" {
				name = path[at+len("node_modules/"):]
			}
			add(name, pkg.Version)
		}
	} else {
		for _, direct := range []map[string]string{root.Dependencies, root.DevDependencies, root.OptionalDependencies} {
			for name := range direct {
				add(name, lock.Packages["node_modules/"+name].Version)
			}
		}
	}
	sort.Slice(deps, func(i, j int) bool {
		if deps[i].Name != deps[j].Name {
			return deps[i].Name < deps[j].Name
		}
		return deps[i].Version < deps[j].Version
	})
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}
