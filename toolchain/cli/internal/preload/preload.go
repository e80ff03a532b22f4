// Package preload gives the node arguments that load a project's own preload first: the project's
// build has bin/components/lazyModules.js, which defers two of @pulumi/pulumi's heaviest requires to
// their first use (see that file). A project without it gets no argument.
package preload

import (
	"os"
	"path/filepath"
)

// Args is `--require <root>/bin/components/lazyModules.js` when root has that file, else nothing.
func Args(root string) []string {
	file := filepath.Join(root, "bin", "components", "lazyModules.js")
	if _, err := os.Stat(file); err != nil {
		return nil
	}
	return []string{"--require", file}
}
