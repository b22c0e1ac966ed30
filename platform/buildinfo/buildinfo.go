// Package buildinfo reports the version of the running Punchcard binary.
package buildinfo

import "runtime/debug"

// Version is set at link time (-X github.com/punchcard-loyalty/punchcard/platform/buildinfo.Version=v1.2.3).
// It is a variable only because the linker can set nothing else.
var Version = ""

// String returns the link-time version, else the module version recorded by the Go
// toolchain, else "dev".
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
