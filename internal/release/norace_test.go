//go:build !race

package release

// raceEnabled: the test binary runs under the race detector.
const raceEnabled = false
