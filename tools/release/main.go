// Command release builds orch's release artefacts — per architecture a
// static binary, a tarball and a .deb — into a directory. make package
// runs it; it is not part of the orch binary.
//
//	go run ./tools/release -version v1.2.0 -arch amd64,arm64 -out dist
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/orch-fleet/orch/internal/release"
)

func main() {
	version := flag.String("version", "", "version to stamp and name the packages with (required)")
	arches := flag.String("arch", "amd64,arm64", "comma-separated GOARCH values")
	out := flag.String("out", "dist", "output `dir`")
	root := flag.String("root", ".", "source tree `dir`")
	flag.Parse()
	if *version == "" {
		fmt.Fprintln(os.Stderr, "release: -version is required")
		os.Exit(2)
	}
	as, err := release.Run(context.Background(), release.Options{
		Root: *root, Out: *out, Version: *version, Arches: strings.Split(*arches, ","),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "release: %v\n", err)
		os.Exit(1)
	}
	for _, a := range as {
		fmt.Printf("%s\n%s\n", a.Deb, a.Tarball)
	}
}
